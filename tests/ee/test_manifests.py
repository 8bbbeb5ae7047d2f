# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""examples/kubernetes/ and the AWX container group pod spec: schema-valid and locked down."""

from __future__ import annotations

import shutil

import pytest
import yaml

from conftest import ROOT, run, tool

# The Kubernetes version the manifests are validated against (schemas bundled with
# kubernetes-validate, requirements/ee.txt).
KUBERNETES_VERSION = "1.37.0"
K8S_DIR = ROOT / "examples" / "kubernetes"
POD_SPEC = ROOT / "examples" / "awx" / "container_group_pod_spec.yml"
MANIFESTS = sorted(p for p in K8S_DIR.glob("*.y*ml") if p.name != "kustomization.yaml")
MODULE_ENV = {"FLINK_URL", "FLINK_USERNAME", "FLINK_PASSWORD", "FLINK_TOKEN", "FLINK_CA_PATH",
              "FLINK_VALIDATE_CERTS", "FLINK_CLIENT_CERT", "FLINK_CLIENT_KEY"}


def load(path):
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def by_kind(kind):
    found = [doc for path in MANIFESTS for doc in load(path) if doc["kind"] == kind]
    assert len(found) == 1, (kind, found)
    return found[0]


def validate(paths):
    proc = run([tool("kubernetes-validate"), "--strict", "--kubernetes-version", KUBERNETES_VERSION]
               + list(paths))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_every_manifest_validates_strictly():
    assert MANIFESTS
    output = validate(MANIFESTS)
    assert output.count(" passed ") == sum(len(load(p)) for p in MANIFESTS), output


def test_the_awx_pod_spec_validates_strictly(tmp_path):
    pod = load(POD_SPEC)[0]
    pod["metadata"]["name"] = "awx-job-1"  # AWX names the pod of each job
    path = tmp_path / "pod.yaml"
    path.write_text(yaml.safe_dump(pod))
    validate([path])


def test_kustomization_lists_every_manifest_and_builds(tmp_path):
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(p.name for p in MANIFESTS)
    assert "namespace" not in kustomization  # namespace-agnostic: kubectl apply -k ... -n NS
    if not shutil.which("kubectl"):
        pytest.skip("kubectl (client) not installed: kustomize output not checked")
    proc = run(["kubectl", "kustomize", K8S_DIR])
    assert proc.returncode == 0, proc.stderr
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(proc.stdout)
    validate([rendered])


def test_no_manifest_sets_a_namespace():
    for path in MANIFESTS:
        for doc in load(path):
            assert "namespace" not in doc["metadata"], path


def pod_security(pod_spec, container, read_only_mounts=()):
    assert pod_spec["automountServiceAccountToken"] is False
    assert pod_spec["securityContext"]["runAsNonRoot"] is True
    assert pod_spec["securityContext"]["runAsUser"] != 0
    assert pod_spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    ctx = container["securityContext"]
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["capabilities"]["drop"] == ["ALL"] and "add" not in ctx["capabilities"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), kind
    # With a read-only root, ansible needs a writable HOME and /tmp.
    mounts = dict((m["mountPath"], m["name"]) for m in container["volumeMounts"])
    volumes = dict((v["name"], v) for v in pod_spec["volumes"])
    env = dict((e["name"], e.get("value")) for e in container.get("env", []))
    assert env["HOME"] in mounts and "emptyDir" in volumes[mounts[env["HOME"]]]
    assert "/tmp" in mounts and "emptyDir" in volumes[mounts["/tmp"]]
    assert env.get("USER")  # getpass.getuser() for a UID without a passwd entry
    for path in read_only_mounts:
        assert [m for m in container["volumeMounts"] if m["mountPath"] == path][0]["readOnly"]
    return mounts, volumes


def test_job_is_locked_down_and_runs_the_deploy_playbook_once():
    job = by_kind("Job")
    assert job["metadata"]["name"] == "flinkops-deploy"
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    assert job["spec"]["activeDeadlineSeconds"] > 0
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    mounts, volumes = pod_security(pod, container,
                                   ("/vars", "/etc/flinkops/credentials", "/jars"))
    assert container["args"] == ["ansible-playbook", "flinkops.flink.deploy", "-e",
                                 "@/vars/vars.yml"]
    assert "command" not in container  # the image's entrypoint (dumb-init) stays
    configmap, secret = by_kind("ConfigMap"), by_kind("Secret")
    assert volumes[mounts["/vars"]]["configMap"]["name"] == configmap["metadata"]["name"]
    assert volumes[mounts["/etc/flinkops/credentials"]]["secret"]["secretName"] == \
        secret["metadata"]["name"]
    assert volumes[mounts["/jars"]]["persistentVolumeClaim"]["claimName"] == \
        by_kind("PersistentVolumeClaim")["metadata"]["name"]
    assert container["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}]
    # Only variables the modules read come from the ConfigMap and the Secret.
    assert set(secret["stringData"]) <= MODULE_ENV
    refs = [e["name"] for e in container["env"] if "valueFrom" in e]
    assert refs == ["FLINK_URL"]
    # Credentials never sit in the variables file.
    assert not [key for key in configmap["data"] if key.startswith("FLINK_") and key != "FLINK_URL"]


def test_configmap_vars_are_role_options():
    options = yaml.safe_load((ROOT / "roles" / "job_deploy" / "meta" / "argument_specs.yml")
                             .read_text())["argument_specs"]["main"]["options"]
    variables = yaml.safe_load(by_kind("ConfigMap")["data"]["vars.yml"])
    assert set(variables) <= set(options), set(variables) - set(options)
    for name, spec in options.items():
        if spec.get("required"):
            assert name in variables, name
    assert not [name for name in variables if "password" in name or "token" in name]


def test_awx_container_group_pod_is_locked_down():
    pod = load(POD_SPEC)[0]
    assert pod["metadata"]["namespace"]  # AWX needs it: where Flink runs
    (container,) = pod["spec"]["containers"]
    pod_security(pod["spec"], container)
    assert container["args"][:2] == ["ansible-runner", "worker"]
