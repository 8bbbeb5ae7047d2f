# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The built execution environment image, against a real Flink cluster (``make test-ee-image``).

Three ways the image is used, each checked through Flink's REST API and the job's output:

* ``podman run ... ansible-playbook flinkops.flink.deploy -e @/vars/vars.yml`` (the
  command of examples/kubernetes/job.yaml): deploy, then update with state carried over;
* ``ansible-runner run`` with process isolation through the image, with a private data dir
  laid out the way AWX lays it out (examples/awx/project/deploy.yml, env/envvars);
* the Kubernetes Job's pod template (examples/kubernetes/job.yaml), rendered as a Pod with
  the ConfigMap and the Secret, under ``podman kube play``.

The image is $EE_IMAGE (``make test-ee-image`` builds it first). Every container, pod,
volume and secret a test makes is removed at its end.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import shutil
import uuid

import pytest
import yaml

from flinkops_devkit.playbooks import PlaybookRun

from conftest import ENGINE, OPEN_DIR, OPEN_FILE, ROOT, engine, flinkctl, require_image, run, tool

IMAGE = os.environ.get("EE_IMAGE", "localhost/flinkops-flink-ee:latest")
K8S = ROOT / "examples" / "kubernetes"
AWX_PLAYBOOK = ROOT / "examples" / "awx" / "project" / "deploy.yml"


@pytest.fixture(scope="module", autouse=True)
def image_exists():
    require_image(IMAGE, "test-ee-image")


def manifest(name):
    return yaml.safe_load((K8S / name).read_text())


def job_command():
    """The command the Kubernetes Job runs (args after the image's entrypoint)."""
    return manifest("job.yaml")["spec"]["template"]["spec"]["containers"][0]["args"]


def jars_dir(flink, tmp_path):
    """The sample job's JARs in a directory the container user can read (mounted at /jars)."""
    path = tmp_path / "jars"
    path.mkdir(mode=OPEN_DIR)
    path.chmod(OPEN_DIR)
    for jar in ("stateful-v1", "stateful-v2"):
        shutil.copy(flink.jobs[jar], path / ("%s.jar" % jar))
        (path / ("%s.jar" % jar)).chmod(OPEN_FILE)
    return path


def deploy_vars(name, jar, health_window=8):
    return {
        "job_deploy_name": name,
        "job_deploy_jar": "/jars/%s.jar" % jar,
        "job_deploy_jar_name": name,
        "job_deploy_args": ["--name", name, "--tag", name, "--rate", "400"],
        # Long enough for a checkpoint after the start (the health gate wants one) on a busy machine.
        "job_deploy_health_window": health_window,
    }


def counts_continue(flink, tag, old, new):
    """The new version's first count per key continues the old one's last (state carried over)."""
    seen = flink.wait_counts(tag, new, timeout=120)
    for (version, key), counts in seen.items():
        if version == new:
            assert counts[0] == seen[(old, key)][-1] + 50, (key, seen[(old, key)][-3:], counts)


def cancel_all(flink, name):
    for job in flink.active(name):
        flinkctl.rest(flink.url, "PATCH", "/jobs/%s?mode=cancel" % job["jid"])


# --- 1. ansible-playbook inside the container -------------------------------------------

def test_deploy_and_update_inside_the_container(flink, unique_job_name, tmp_path):
    name = unique_job_name
    jars = jars_dir(flink, tmp_path)
    vars_dir = tmp_path / "vars"
    vars_dir.mkdir(mode=OPEN_DIR)
    vars_dir.chmod(OPEN_DIR)
    container = "flinkops-ee-test-%s" % uuid.uuid4().hex[:8]

    def deploy(jar):
        variables = deploy_vars(name, jar)
        variables["job_deploy_entry_class"] = flink.entry_class
        (vars_dir / "vars.yml").write_text(yaml.safe_dump(variables))
        (vars_dir / "vars.yml").chmod(OPEN_FILE)
        proc = engine("run", "--rm", "--name", container, "--network", "host",
                      "-v", "%s:/jars:ro" % jars, "-v", "%s:/vars:ro" % vars_dir,
                      "-e", "FLINK_URL=%s" % flink.url, "-e", "ANSIBLE_SHOW_CUSTOM_STATS=true",
                      "-e", "ANSIBLE_NOCOLOR=1", IMAGE, *job_command(), timeout=900)
        return PlaybookRun(proc)

    try:
        first = deploy("stateful-v1")
        assert first.rc == 0, first.output[-3000:]
        assert first.outcome["action"] == "started"
        job = flink.the_running_job(name)
        assert job["jid"] == first.outcome["job_id"]
        flink.wait_counts(name, "v1", minimum=2, timeout=120)

        update = deploy("stateful-v2")
        assert update.rc == 0, update.output[-3000:]
        outcome = update.outcome
        assert outcome["action"] == "upgraded" and outcome["previous_job_id"] == job["jid"]
        assert outcome["savepoint"] and not outcome["rolled_back"]
        assert flink.state(job["jid"]) == "FINISHED"
        assert flink.the_running_job(name)["jid"] == outcome["job_id"]
        # Flink says the new job started from the savepoint that stopped the old one ...
        assert flink.wait_restored(outcome["job_id"], timeout=60)["external_path"] == outcome["savepoint"]
        # ... and the job's output says its counts went on from where v1 stopped.
        counts_continue(flink, name, "v1", "v2")
    finally:
        engine("rm", "-f", "--ignore", container)
        cancel_all(flink, name)


# --- 2. ansible-runner with process isolation through the image (as AWX runs a job) -------

def test_ansible_runner_process_isolation_through_the_image(flink, unique_job_name, tmp_path):
    name = unique_job_name
    jars = jars_dir(flink, tmp_path)
    data = tmp_path / "runner"
    for sub in ("project", "inventory", "env", "artifacts"):
        (data / sub).mkdir(parents=True, mode=OPEN_DIR)
    for path in [data] + list(data.iterdir()):
        path.chmod(OPEN_DIR)  # the container's UID 1000 writes artifacts and ~/.ansible here
    shutil.copy(AWX_PLAYBOOK, data / "project" / "deploy.yml")
    (data / "inventory" / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {
        "ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}}}))
    # What the Flink credential type (examples/awx/credential_type.yml) injects.
    (data / "env" / "envvars").write_text(yaml.safe_dump({"FLINK_URL": flink.url}))
    variables = deploy_vars(name, "stateful-v1")
    variables["job_deploy_entry_class"] = flink.entry_class
    (data / "env" / "extravars").write_text(yaml.safe_dump(variables))
    (data / "env" / "settings").write_text(yaml.safe_dump({
        "job_timeout": 900,
        "process_isolation": True,
        "process_isolation_executable": ENGINE,
        "container_image": IMAGE,
        # The test cluster listens on the host's loopback; in AWX the pod reaches Flink's service.
        # As root: ansible-runner (root on this host) makes artifacts/<ident>/* mode 0700,
        # which the image's default user 1000 cannot write; AWX maps the users itself.
        "container_options": ["--network=host", "--user=0"],
        "container_volume_mounts": ["%s:/jars:ro" % jars],
    }))
    for path in data.rglob("*"):
        path.chmod(OPEN_DIR if path.is_dir() else OPEN_FILE)
    ident = "awx-%s" % uuid.uuid4().hex[:8]
    # ansible-runner makes artifacts/<ident> mode 0700 as the host user (root here), where the
    # container's UID 1000 could not write its fact cache; made beforehand, it stays open.
    (data / "artifacts" / ident).mkdir(mode=OPEN_DIR)
    (data / "artifacts" / ident).chmod(OPEN_DIR)
    try:
        proc = run([tool("ansible-runner"), "run", data, "-p", "deploy.yml", "--ident", ident],
                   timeout=900)
        artifacts = data / "artifacts" / ident
        status = (artifacts / "status").read_text().strip()
        assert status == "successful", proc.stdout[-3000:] + proc.stderr[-2000:]
        events = [json.loads(p.read_text()) for p in (artifacts / "job_events").glob("*.json")]
        stats = [e for e in events if e.get("event") == "playbook_on_stats"]
        assert len(stats) == 1, proc.stdout[-3000:]
        # set_stats data, as AWX stores it on the job (artifacts).
        outcome = stats[0]["event_data"]["artifact_data"]["job_deploy_result"]
        assert outcome["action"] == "started"
        assert flink.the_running_job(name)["jid"] == outcome["job_id"]
        # The play ran in the image: ansible-runner wrapped it in `podman run ... IMAGE`.
        command = json.loads((artifacts / "command").read_text())["command"]
        assert command[:2] == [ENGINE, "run"] and IMAGE in command, command
        flink.wait_counts(name, "v1", minimum=1, timeout=120)
    finally:
        cancel_all(flink, name)


# --- 3. the Kubernetes Job's pod under podman kube play ------------------------------------

def scratch_volumes(volume_name):
    """The named volumes standing in for the Job's emptyDirs (home and tmp)."""
    return ["%s-%s" % (volume_name, volume["name"]) for volume in manifest("job.yaml")["spec"]["template"]["spec"]["volumes"]
            if "emptyDir" in volume]


def render_pod(pod_name, secret_name, volume_name):
    """examples/kubernetes/job.yaml's pod template as a Pod; only what a laptop lacks changes."""
    job = manifest("job.yaml")
    template = copy.deepcopy(job["spec"]["template"])
    spec = template["spec"]
    # The test cluster is on the host's loopback, not behind a Service.
    spec["hostNetwork"] = True
    container = spec["containers"][0]
    assert container["image"].split(":")[0] == IMAGE.split(":")[0], container["image"]
    container["image"] = IMAGE
    for source in container["envFrom"]:
        source["secretRef"]["name"] = secret_name
    for volume in spec["volumes"]:
        if "secret" in volume:
            volume["secret"]["secretName"] = secret_name
            # podman 4.3 dereferences a missing `optional` when it looks the secret up.
            volume["secret"].setdefault("optional", False)
        if "persistentVolumeClaim" in volume:
            volume["persistentVolumeClaim"]["claimName"] = volume_name
        if "emptyDir" in volume:
            # A named volume stands in (see scratch_volumes). podman has no fsGroup: the volume
            # starts as a copy of the image's directory with its owner, which is what lets UID
            # 1000 (group 1000, as the Job runs it) write /runner (the EE chowns it to 1000:0).
            del volume["emptyDir"]
            volume["persistentVolumeClaim"] = {"claimName": "%s-%s" % (volume_name, volume["name"])}
    metadata = dict(template.get("metadata") or {}, name=pod_name)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def test_kubernetes_job_pod_runs_under_podman_kube_play(flink, unique_job_name, tmp_path):
    name = unique_job_name
    suffix = uuid.uuid4().hex[:8]
    pod_name, secret_name, volume = ("flinkops-deploy-%s" % suffix,
                                     "flinkops-flink-credentials-%s" % suffix,
                                     "flinkops-jars-%s" % suffix)
    configmap = manifest("configmap.yaml")
    configmap["data"]["FLINK_URL"] = flink.url
    variables = deploy_vars(name, "stateful-v1")
    variables["job_deploy_entry_class"] = flink.entry_class
    configmap["data"]["vars.yml"] = yaml.safe_dump(variables)
    (tmp_path / "configmap.yaml").write_text(yaml.safe_dump(configmap))
    # The Secret the Job reads its credentials from; a token Flink's open REST API ignores.
    secret = manifest("secret.yaml")
    secret["metadata"]["name"] = secret_name
    secret.pop("stringData", None)
    secret["data"] = {"FLINK_TOKEN": base64.b64encode(uuid.uuid4().hex.encode()).decode()}
    # podman 4.3 (Debian bookworm's) reads a secret for `kube play` as a JSON map of keys to
    # base64 values: the Secret manifest's `data`, which is what a cluster stores too.
    (tmp_path / "secret.yaml").write_text(json.dumps(secret["data"]))
    (tmp_path / "pod.yaml").write_text(yaml.safe_dump(render_pod(pod_name, secret_name, volume)))
    container = "%s-deploy" % pod_name
    try:
        proc = engine("secret", "create", secret_name, tmp_path / "secret.yaml")
        assert proc.returncode == 0, proc.stderr
        # The PersistentVolumeClaim: a named volume holding the JAR.
        proc = engine("volume", "create", volume)
        assert proc.returncode == 0, proc.stderr
        mountpoint = engine("volume", "inspect", "--format", "{{.Mountpoint}}", volume).stdout.strip()
        os.chmod(mountpoint, OPEN_DIR)
        shutil.copy(flink.jobs["stateful-v1"], os.path.join(mountpoint, "stateful-v1.jar"))
        os.chmod(os.path.join(mountpoint, "stateful-v1.jar"), OPEN_FILE)

        for scratch in scratch_volumes(volume):
            proc = engine("volume", "create", scratch)
            assert proc.returncode == 0, proc.stderr
        proc = engine("kube", "play", "--configmap", tmp_path / "configmap.yaml",
                      tmp_path / "pod.yaml")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        waited = engine("wait", container, timeout=900)
        logs = engine("logs", container)
        output = PlaybookRun(logs)
        assert waited.stdout.strip() == "0", logs.stdout[-3000:] + logs.stderr[-2000:]
        assert output.outcome["action"] == "started", logs.stdout[-3000:]
        assert flink.the_running_job(name)["jid"] == output.outcome["job_id"]
        flink.wait_counts(name, "v1", minimum=1, timeout=120)
        # The token came from the Secret and stayed out of the output.
        token = base64.b64decode(secret["data"]["FLINK_TOKEN"]).decode()
        assert token not in logs.stdout + logs.stderr
    finally:
        engine("pod", "rm", "-f", pod_name)
        engine("volume", "rm", "-f", volume, *scratch_volumes(volume))
        engine("secret", "rm", secret_name)
        cancel_all(flink, name)
