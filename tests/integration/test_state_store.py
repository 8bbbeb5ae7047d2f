# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A durable state store on a single-JobManager cluster, with each real backend (SeaweedFS,
ZooKeeper, PostgreSQL): nothing is forgotten when the JobManager's upload directory is emptied
(a restarted JobManager, a new pod), the JAR store's history is imported, and bad store input
fails clearly and changes nothing. The high-availability cluster has its own suite
(test_ha.py)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from flinkops_devkit.playbooks import run_playbook
from flinkops_devkit.rest import rest

# One worker for every HA-cluster and state-store suite: their clusters and stores are started once.
pytestmark = pytest.mark.xdist_group("state-store")

KINDS = ("s3", "zookeeper", "postgresql")


def wipe_upload_dir(flink):
    """Every uploaded JAR gone, as after a JobManager restart with a fresh upload directory."""
    for jar in flink.get("/jars")["files"]:
        status, _answer = rest(flink.url, "DELETE", "/jars/%s" % jar["id"], timeout=30)
        assert status in (200, 404)
    assert flink.jar_names() == []


def no_secret_in(result, *secrets):
    text = json.dumps(result)
    for secret in secrets:
        assert secret not in text


@pytest.mark.parametrize("kind", KINDS)
def test_nothing_is_forgotten_when_the_upload_directory_is_emptied(
        flink, job_params, module, state_store_of, kind):
    store = state_store_of(kind)
    params = job_params(state_store=store)
    started = module("flink_job", params)
    assert started["action"] == "started", started
    flink.wait_counts(params["name"], "v1", minimum=2)

    wipe_upload_dir(flink)
    again = module("flink_job", params)
    assert again["action"] == "none" and not again["changed"], again
    assert again["job_id"] == started["job_id"]
    info = module("flink_job_info", dict(url=flink.url, name=params["name"], state_store=store))
    assert [op["action"] for op in info["operations"]] == ["started"]
    assert info["jobs"][0]["spec"]["args"] == params["args"]

    stopped = module("flink_job", dict(params, state="stopped"))
    assert stopped["action"] == "stopped" and stopped["savepoint"], stopped
    wipe_upload_dir(flink)
    history = module("flink_job_info", dict(url=flink.url, name=params["name"], state_store=store))
    assert history["savepoints"][0]["path"] == stopped["savepoint"], history["savepoints"]
    assert history["savepoints"][0]["action"] == "stopped"
    resumed = module("flink_job", dict(params, jar=flink.jobs["stateful-v2"]))
    assert resumed["action"] == "resumed", resumed
    assert resumed["restored_from"] == stopped["savepoint"]
    flink.wait_counts(params["name"], "v2", minimum=2)
    flink.assert_exactly_once(params["name"])
    password = urlsplit(store).password
    for result in (started, again, info, stopped, resumed):
        no_secret_in(result, *([password] if password else []))


def test_the_jar_store_history_is_imported_on_the_first_run_with_a_store(
        flink, job_params, module, state_store_of):
    params = job_params()
    started = module("flink_job", params)  # records in the JobManager's upload directory
    assert started["action"] == "started", started
    store = state_store_of("zookeeper")
    again = module("flink_job", dict(params, state_store=store))
    assert again["action"] == "none" and not again["changed"], again
    wipe_upload_dir(flink)
    info = module("flink_job_info", dict(url=flink.url, name=params["name"], state_store=store))
    assert [op["action"] for op in info["operations"]] == ["started"]
    assert info["operations"][0]["job_id"] == started["job_id"]
    assert module("flink_job", dict(params, state_store=store))["action"] == "none"


@pytest.mark.parametrize("store, message", [
    ("ftp://somewhere/x", "unknown scheme 'ftp'"),
    ("s3://", "bucket"),
    ("zookeeper://:2181/x", "invalid ZooKeeper state store URL"),
    ("s3://bucket/p?aws_secret_access_key=hunter2-very-secret", "credential"),
])
def test_a_bad_store_url_fails_clearly_and_changes_nothing(flink, job_params, module, store, message):
    params = job_params(state_store=store)
    before = flink.snapshot(params["name"])
    result = module("flink_job", params)
    assert result.get("failed"), result
    assert message in result["msg"], result["msg"]
    assert "Traceback" not in json.dumps(result) and "hunter2-very-secret" not in json.dumps(result)
    assert flink.snapshot(params["name"]) == before


def test_wrong_store_credentials_are_refused_and_never_shown(flink, job_params, module, store_servers,
                                                             monkeypatch):
    store_servers.server("postgresql")
    url = store_servers.url("postgresql").replace(store_servers.server("postgresql").password,
                                                  "wrong-password-123")
    params = job_params(state_store=url)
    before = flink.snapshot(params["name"])
    result = module("flink_job", params)
    assert result.get("failed") and "wrong-password-123" not in json.dumps(result), result
    assert "postgresql://flinkops@" in result["msg"] or "flinkops" in result["msg"], result["msg"]
    assert flink.snapshot(params["name"]) == before

    store_servers.server("s3")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKWRONGWRONGWRONG")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-key-456")
    result = module("flink_job", job_params(state_store=store_servers.url("s3")))
    assert result.get("failed") and "wrong-secret-key-456" not in json.dumps(result), result
    assert "credentials" in result["msg"], result["msg"]
    assert flink.snapshot(params["name"]) == before


def test_an_unreachable_store_fails_before_anything_changes(flink, job_params, module):
    from flinkops_devkit.flinkctl import free_port

    params = job_params(state_store="zookeeper://127.0.0.1:%d/x" % free_port(), request_timeout=3)
    before = flink.snapshot(params["name"])
    result = module("flink_job", params)
    assert result.get("failed"), result
    assert "127.0.0.1" in result["msg"], result["msg"]
    assert flink.snapshot(params["name"]) == before


def test_a_store_written_by_a_newer_release_is_refused_and_nothing_changes(flink, job_params, module,
                                                                           state_store_of):
    from ansible_collections.flinkops.flink.plugins.module_utils._records._backend import ScopedRecords
    from ansible_collections.flinkops.flink.plugins.module_utils._records._zookeeper import open_backend

    store = state_store_of("zookeeper")
    backend = open_backend(store, 10)
    try:
        ScopedRecords(backend, "store").write("flinkops-format-2")
    finally:
        backend.close()
    params = job_params(state_store=store)
    before = flink.snapshot(params["name"])
    result = module("flink_job", params)
    assert result.get("failed"), result
    assert "written by a newer release of flinkops.flink (record format 2" in result["msg"], result["msg"]
    assert flink.snapshot(params["name"]) == before


@pytest.mark.first_version_only  # Ansible's module payload, not Flink's behaviour
@pytest.mark.parametrize("kind", KINDS)
def test_the_deploy_playbook_with_a_store_through_ansible(flink, unique_job_name, state_store_of, tmp_path, kind):
    """As users run it (ansible-playbook, the module shipped with its module_utils by Ansible):
    every backend must be in the module's payload."""
    store = state_store_of(kind)
    variables = {
        "job_deploy_url": flink.url, "job_deploy_name": unique_job_name,
        "job_deploy_jar": flink.jobs["stateful-v1"], "job_deploy_jar_name": unique_job_name,
        "job_deploy_entry_class": flink.entry_class, "job_deploy_state_store": store,
        "job_deploy_args": ["--name", unique_job_name, "--tag", unique_job_name, "--rate", "400"],
    }
    first = run_playbook("flinkops.flink.deploy", variables, tmp_path)
    assert first.rc == 0, first.output[-3000:]
    assert first.outcome["action"] == "started"
    wipe_upload_dir(flink)  # the records are in the store, not in the upload directory
    again = run_playbook("flinkops.flink.deploy", variables, tmp_path)
    assert again.rc == 0 and again.recap["changed"] <= 1, again.output[-3000:]  # the JAR upload
    assert again.outcome["action"] == "none"
    password = urlsplit(store).password
    assert not password or password not in first.output + again.output
