# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The execution environment is enough: a venv holding only what it declares deploys and updates.

The venv gets ansible-core and ansible-runner at the EE's pins, the Python
requirements ``ansible-builder introspect`` reports for the collection, and the
collection from the tarball ``ansible-galaxy collection build`` makes, nothing
else (no PYTHONPATH, no ANSIBLE_COLLECTIONS_PATH pointing at the checkout). It
runs the AWX project playbook (examples/awx/project/deploy.yml) through
``ansible-runner run`` with a private data dir laid out as AWX lays it out:
env/envvars carries what the Flink credential type injects, env/extravars what
the survey sets. The venv is cached under build/ee-venv/, keyed on those
requirements and the Python version.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import sys
import time
import venv

import pytest
import yaml

from conftest import BUILD, ROOT, ee_definition, flinkctl, introspect, run

VENV_CACHE = BUILD / "ee-venv"
AWX_PROJECT_PLAYBOOK = ROOT / "examples" / "awx" / "project" / "deploy.yml"
# What AWX's "Demo Inventory" holds: localhost, run with the EE's own Python.
INVENTORY = {"all": {"hosts": {"localhost": {
    "ansible_connection": "local",
    "ansible_python_interpreter": "{{ ansible_playbook_python }}",
}}}}


def ee_requirements():
    deps = ee_definition()["dependencies"]
    requirements = [deps["ansible_core"]["package_pip"], deps["ansible_runner"]["package_pip"]]
    requirements += [line.split("#", 1)[0].strip() for line in introspect()["python"]]
    return requirements


@pytest.fixture(scope="session")
def ee_venv():
    requirements = ee_requirements()
    key = hashlib.sha256(json.dumps([list(sys.version_info[:2]), requirements])
                         .encode()).hexdigest()[:16]
    VENV_CACHE.mkdir(parents=True, exist_ok=True)
    path = VENV_CACHE / key
    with open(VENV_CACHE / ".lock", "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        for stale in VENV_CACHE.iterdir():
            if stale.is_dir() and stale.name != key:
                shutil.rmtree(stale)
        if not (path / ".complete").is_file():
            shutil.rmtree(path, ignore_errors=True)
            venv.EnvBuilder(with_pip=True, clear=True).create(path)
            proc = run([path / "bin" / "python", "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check"] + requirements)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            (path / ".complete").write_text("\n".join(requirements) + "\n")
    return path


def installed(venv_path):
    proc = run([venv_path / "bin" / "python", "-m", "pip", "list", "--format=json",
                "--disable-pip-version-check"])
    assert proc.returncode == 0, proc.stderr
    return dict((dist["name"].lower(), dist["version"]) for dist in json.loads(proc.stdout))


class Runner:
    """An AWX-style private data dir and ``ansible-runner run`` in the EE venv."""

    def __init__(self, venv_path, tarball, tmp_path, flink_url):
        self.venv = venv_path
        self.data_dir = tmp_path / "runner"
        home = tmp_path / "home"
        home.mkdir()
        # Only the EE venv: no PYTHONPATH, no ANSIBLE_* from make.
        self.env = {"PATH": "%s:/usr/bin:/bin" % (venv_path / "bin"), "HOME": str(home),
                    "LANG": "C.UTF-8"}
        # Into the default collections path (~/.ansible/collections), as the EE has it in
        # /usr/share/ansible/collections: found without any configuration.
        proc = run([venv_path / "bin" / "ansible-galaxy", "collection", "install", "--force",
                    "-p", home / ".ansible" / "collections", tarball], env=self.env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        (self.data_dir / "project").mkdir(parents=True)
        shutil.copy(AWX_PROJECT_PLAYBOOK, self.data_dir / "project" / "deploy.yml")
        (self.data_dir / "inventory").mkdir()
        (self.data_dir / "inventory" / "hosts.yml").write_text(yaml.safe_dump(INVENTORY))
        (self.data_dir / "env").mkdir()
        # What the Flink credential type (examples/awx/credential_type.yml) injects.
        (self.data_dir / "env" / "envvars").write_text(yaml.safe_dump({"FLINK_URL": flink_url}))
        (self.data_dir / "env" / "settings").write_text(yaml.safe_dump({"job_timeout": 600}))

    def run(self, ident, extravars):
        (self.data_dir / "env" / "extravars").write_text(yaml.safe_dump(extravars))
        proc = run([self.venv / "bin" / "ansible-runner", "run", self.data_dir,
                    "-p", "deploy.yml", "--ident", ident], env=self.env, timeout=900)
        artifacts = self.data_dir / "artifacts" / ident
        status = (artifacts / "status").read_text().strip()
        stats = [json.loads(event.read_text()) for event in (artifacts / "job_events").glob("*.json")]
        stats = [event for event in stats if event.get("event") == "playbook_on_stats"]
        assert len(stats) == 1, proc.stdout[-3000:]
        # set_stats data, as AWX stores it on the job (artifacts).
        outcome = stats[0]["event_data"]["artifact_data"]["job_deploy_result"]
        return proc, status, outcome


def rest(url, path):
    status, data = flinkctl.rest(url, "GET", path)
    assert status == 200, (path, status, data)
    return data


def jobs_named(url, name):
    return dict((job["jid"], job["state"]) for job in rest(url, "/jobs/overview")["jobs"]
                if job["name"] == name)


def restored_from(url, job_id, timeout=60):
    deadline = time.time() + timeout
    while True:
        restored = (rest(url, "/jobs/%s/checkpoints" % job_id).get("latest") or {}).get("restored")
        if restored or time.time() > deadline:
            return (restored or {}).get("external_path")
        time.sleep(1)


def test_ee_venv_holds_only_what_the_ee_declares(ee_venv):
    packages = installed(ee_venv)
    deps = ee_definition()["dependencies"]
    for pin in (deps["ansible_core"]["package_pip"], deps["ansible_runner"]["package_pip"]):
        name, version = pin.split("==")
        assert packages.get(name) == version, (pin, packages)
    assert "requests" in packages
    for dev_only in ("pytest", "ansible-lint", "ansible-builder", "molecule"):
        assert dev_only not in packages


def test_deploy_and_update_through_ansible_runner(ee_venv, collection_tarball, ee_flink, tmp_path):
    url = ee_flink.url
    runner = Runner(ee_venv, collection_tarball, tmp_path, url)
    name = "ee-runner-%d" % int(time.time())
    variables = {
        "job_deploy_name": name,
        "job_deploy_jar": ee_flink.jobs["stateful-v1"],
        "job_deploy_jar_name": name,
        "job_deploy_entry_class": ee_flink.jobs["entry_class"],
        "job_deploy_args": ["--name", name, "--tag", name, "--rate", "400"],
        # Long enough for a checkpoint after the start (the health gate wants one) on a busy machine.
        "job_deploy_health_window": 8,
    }
    try:
        proc, status, first = runner.run("deploy-v1", variables)
        assert status == "successful", proc.stdout[-3000:]
        assert first["action"] == "started"
        assert jobs_named(url, name) == {first["job_id"]: "RUNNING"}

        variables["job_deploy_jar"] = ee_flink.jobs["stateful-v2"]
        proc, status, update = runner.run("update-v2", variables)
        assert status == "successful", proc.stdout[-3000:]
        assert update["action"] == "upgraded" and update["previous_job_id"] == first["job_id"]
        assert update["savepoint"] and not update["rolled_back"]
        assert jobs_named(url, name) == {first["job_id"]: "FINISHED", update["job_id"]: "RUNNING"}
        # Flink itself says the new job started from the savepoint that stopped the old one.
        assert restored_from(url, update["job_id"]) == update["savepoint"]
    finally:
        for job_id, state in jobs_named(url, name).items():
            if state not in ("FINISHED", "CANCELED", "FAILED"):
                flinkctl.rest(url, "PATCH", "/jobs/%s?mode=cancel" % job_id)
