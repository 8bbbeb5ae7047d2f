# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""flink_job against real clusters; every claim checked through Flink's REST API or the job's output."""

from __future__ import annotations

import json
import time

import requests

from flinkops_devkit import flinkctl
from flinkops_devkit.modules import warnings_of


def assert_state_carried_over(flink, tag, old_version, new_version):
    """Exactly once: each key's first count in the new version is the old one's last + 50."""
    seen = flink.wait_counts(tag, new_version, minimum=1)
    for (version, key), counts in seen.items():
        if version != new_version:
            continue
        before = seen.get((old_version, key))
        assert before, "key %s printed nothing before the update" % key
        assert counts[0] == before[-1] + 50, (key, before[-3:], counts[:3])


def test_deploy_is_idempotent_and_upgrade_carries_state(flink, job_params, module):
    params = job_params()
    first = module("flink_job", params)
    assert first["changed"] and first["action"] == "started", first
    job = flink.the_running_job(params["name"])
    assert job["jid"] == first["job_id"]
    assert job["tasks"]["running"] == job["tasks"]["total"]

    again = module("flink_job", params)
    assert not again["changed"] and again["action"] == "none" and again["actions"] == []
    assert flink.the_running_job(params["name"])["jid"] == first["job_id"]

    flink.wait_counts(params["name"], "v1", minimum=2)
    upgraded = module("flink_job", dict(params, jar=flink.jobs["stateful-v2"]), diff=True)
    assert upgraded["changed"] and upgraded["action"] == "upgraded", upgraded
    assert upgraded["previous_job_id"] == first["job_id"]
    assert upgraded["savepoint"] and upgraded["restored_from"] == upgraded["savepoint"]
    assert upgraded["diff"]["before"]["jar"] != upgraded["diff"]["after"]["jar"]
    new = flink.the_running_job(params["name"])
    assert new["jid"] == upgraded["job_id"]
    assert flink.state(first["job_id"]) == "FINISHED"  # stopped with a savepoint, not cancelled
    assert_state_carried_over(flink, params["name"], "v1", "v2")
    # Flink itself says which savepoint the new job restored.
    restored = flink.wait_restored(new["jid"])
    assert restored["is_savepoint"] and restored["external_path"] == upgraded["savepoint"]


def test_changed_args_upgrade_and_arguments_arrive_intact(flink, job_params, module):
    tag = "quotes \"and\" spaces 'ü' €"
    params = job_params(tag=tag)
    assert module("flink_job", params)["action"] == "started"
    flink.wait_counts(tag, "v1", minimum=2)
    new_tag = tag + " v2"
    upgraded = module("flink_job", job_params(tag=new_tag))
    assert upgraded["action"] == "upgraded", upgraded
    seen = flink.wait_counts(new_tag, "v1", minimum=1)
    old = flink.counts(tag)
    for (version, key), counts in seen.items():
        assert counts[0] == old[(version, key)][-1] + 50


def test_check_mode_changes_nothing(flink, job_params, module):
    params = job_params()
    before = flink.snapshot(params["name"])
    planned = module("flink_job", params, check=True, diff=True)
    assert planned["changed"] and planned["job_id"] is None
    assert any(action.startswith("start job") for action in planned["actions"])
    assert flink.snapshot(params["name"]) == before

    started = module("flink_job", params)
    flink.wait_counts(params["name"], "v1")
    before = flink.snapshot(params["name"])
    for change in (dict(jar=flink.jobs["stateful-v2"]), dict(parallelism=2),
                   dict(upgrade_mode="stateless", args=params["args"] + ["--keys", "3"])):
        planned = module("flink_job", dict(params, **change), check=True, diff=True)
        assert planned["changed"] and planned["action"] == "upgraded", planned
        assert any("stop job" in a or "cancel job" in a for a in planned["actions"])
        assert flink.snapshot(params["name"]) == before
    planned = module("flink_job", dict(params, state="stopped"), check=True)
    assert planned["changed"] and planned["action"] == "stopped"
    assert flink.snapshot(params["name"]) == before
    assert flink.the_running_job(params["name"])["jid"] == started["job_id"]


def test_program_failing_in_main_is_caught_before_the_stop(flink, job_params, module):
    params = job_params()
    started = module("flink_job", params)
    result = module("flink_job", job_params(extra_args=["--variant", "throw-in-main"]))
    assert result["failed"]
    assert "POST" in result["msg"] and "/plan" in result["msg"]
    assert "main failed on purpose" in result["msg"]
    job = flink.the_running_job(params["name"])
    assert job["jid"] == started["job_id"] and job["state"] == "RUNNING"


def test_incompatible_version_is_rolled_back_to_the_old_one(flink, job_params, module):
    params = job_params()
    started = module("flink_job", params)
    flink.wait_counts(params["name"], "v1", minimum=2)
    # state_check off: this is about Flink's own refusal at restore (test_precheck.py has the
    # pre-check that refuses this upgrade before the stop).
    result = module("flink_job", dict(params, jar=flink.jobs["stateful-incompatible"],
                                      state_check="off"))
    assert result["failed"] and result.get("rolled_back"), result
    assert "Failed to rollback to checkpoint/savepoint" in result["msg"]
    assert "/run" in result["msg"] and "400" in result["msg"]
    job = flink.the_running_job(params["name"])
    assert job["jid"] == result["job_id"] != started["job_id"]
    # The old spec again, recognised by its confirmation record.
    assert flink.spec_fingerprint(job["jid"]) == flink.spec_fingerprint(started["job_id"])
    restored = flink.wait_restored(job["jid"])
    assert restored["external_path"] == result["savepoint"]
    # The old version again counts on from the savepoint: the same spec, state intact.
    again = module("flink_job", params)
    assert not again["changed"]


def test_new_version_failing_on_start_is_rolled_back(flink, job_params, module):
    params = job_params()
    started = module("flink_job", params)
    result = module("flink_job", dict(job_params(extra_args=["--variant", "fail-on-start"]),
                                      health_window=5))
    assert result["failed"] and result.get("rolled_back"), result
    assert "fail-on-start variant fails on purpose" in result["msg"]
    job = flink.the_running_job(params["name"])
    assert job["jid"] == result["job_id"]
    assert flink.spec_fingerprint(job["jid"]) == flink.spec_fingerprint(started["job_id"])
    assert flink.state(result["failed_job_id"]) == "CANCELED"


def test_unwritable_savepoint_dir_leaves_the_old_job_running(flink, job_params, module):
    params = job_params()
    started = module("flink_job", params)
    result = module("flink_job", dict(params, jar=flink.jobs["stateful-v2"],
                                      savepoint_dir="file:///proc/flinkops-not-writable"))
    assert result["failed"] and not result.get("rolled_back")
    assert "savepoint" in result["msg"] and "failed" in result["msg"]
    assert "/proc/flinkops-not-writable" in result["msg"]
    job = flink.the_running_job(params["name"])
    assert job["jid"] == started["job_id"] and job["state"] == "RUNNING"


def test_stop_then_running_resumes_from_that_savepoint(flink, job_params, module):
    params = job_params()
    started = module("flink_job", params)
    flink.wait_counts(params["name"], "v1", minimum=2)
    stopped = module("flink_job", dict(params, state="stopped"))
    assert stopped["changed"] and stopped["action"] == "stopped" and stopped["savepoint"]
    assert flink.active(params["name"]) == []
    assert not module("flink_job", dict(params, state="stopped"))["changed"]
    # A play killed between the stop and the submit is finished by running the task again.
    resumed = module("flink_job", dict(params, jar=flink.jobs["stateful-v2"]))
    assert resumed["action"] == "resumed", resumed
    assert resumed["restored_from"] == stopped["savepoint"]
    assert resumed["previous_job_id"] == started["job_id"]
    flink.the_running_job(params["name"])
    assert_state_carried_over(flink, params["name"], "v1", "v2")


def test_two_active_jobs_with_the_name_is_an_error(flink, job_params, module):
    params = job_params()
    module("flink_job", params)
    # A second copy started behind the collection's back (the module itself refuses to start
    # a job whose program names it differently, so it is submitted through raw REST).
    status, uploaded = flinkctl.upload_jar(flink.url, params["jar"])
    assert status == 200, uploaded
    jar_id = uploaded["filename"].rsplit("/", 1)[-1]
    status, started = flinkctl.rest(flink.url, "POST", "/jars/%s/run" % jar_id, {
        "entryClass": params["entry_class"],
        "programArgsList": ["--name", params["name"], "--tag", "x"]})
    assert status == 200, started
    deadline = time.time() + 60
    while len(flink.active(params["name"])) < 2 and time.time() < deadline:
        time.sleep(0.2)
    assert len(flink.active(params["name"])) == 2
    result = module("flink_job", params)
    assert result["failed"] and "2 jobs match name" in result["msg"]
    for job in flink.active(params["name"]):
        assert job["jid"] in result["msg"]


def test_stateless_upgrade_and_cancel(flink, job_params, module):
    params = job_params()
    module("flink_job", params)
    flink.wait_counts(params["name"], "v1")
    result = module("flink_job", dict(params, jar=flink.jobs["stateful-v2"],
                                      upgrade_mode="stateless"))
    assert result["action"] == "upgraded" and result["restored_from"] is None
    assert flink.state(result["previous_job_id"]) == "CANCELED"
    seen = flink.wait_counts(params["name"], "v2")
    assert all(counts[0] == 50 for (version, _k), counts in seen.items() if version == "v2")
    cancelled = module("flink_job", dict(params, state="stopped", stop_mode="cancel"))
    assert cancelled["action"] == "cancelled" and cancelled["savepoint"] is None
    assert flink.active(params["name"]) == []


def test_bad_input_changes_nothing(flink, job_params, module, tmp_path):
    params = job_params()
    not_a_jar = tmp_path / "notes.jar"
    not_a_jar.write_text("hello")
    before = flink.snapshot(params["name"])
    cases = [
        (dict(jar=str(not_a_jar)), "is not a JAR file"),
        (dict(jar=str(tmp_path / "missing.jar")), "does not exist"),
        (dict(entry_class="org.example.Missing"), "ClassNotFoundException"),
        (dict(savepoint_path="file:///tmp/flinkops-no-such-savepoint"), "no-such-savepoint"),
        (dict(parallelism=0), "parallelism must be 1 or more"),
        (dict(wait_timeout=0), "wait_timeout must be between"),
    ]
    for change, expected in cases:
        result = module("flink_job", dict(params, **change))
        assert result["failed"] and expected in result["msg"], (change, result["msg"])
        assert flink.active(params["name"]) == []
    jobs, _jars = flink.snapshot(params["name"])
    new_jobs = set(jobs) - set(before[0])
    # Flink itself leaves a FAILED job behind for a rejected submission; nothing runs.
    assert all(state == "FAILED" for _jid, state in new_jobs)


def test_prefix_match_upgrades_a_versioned_job_name(flink, job_params, module):
    params = job_params()
    base = params["name"]
    v1 = dict(params, name=base + "-1.0", args=["--name", base + "-1.0", "--tag", base])
    started = module("flink_job", dict(v1, name=base, name_match="prefix"))
    assert started["action"] == "started"
    flink.wait_counts(base, "v1", minimum=2)
    v2 = dict(params, name=base, name_match="prefix", jar=flink.jobs["stateful-v2"],
              args=["--name", base + "-2.0", "--tag", base])
    upgraded = module("flink_job", v2)
    assert upgraded["action"] == "upgraded" and upgraded["previous_job_id"] == started["job_id"]
    assert flink.active(base + "-1.0") == []
    assert flink.the_running_job(base + "-2.0")["jid"] == upgraded["job_id"]
    assert_state_carried_over(flink, base, "v1", "v2")


def test_last_state_upgrade_restores_the_latest_checkpoint(flink, job_params, module):
    retained = {"execution.checkpointing.externalized-checkpoint-retention":
                "RETAIN_ON_CANCELLATION"}
    params = job_params(configuration=retained)
    started = module("flink_job", params)
    assert started["action"] == "started", started
    # A checkpoint taken once every key counted at least 100 records.
    flink.wait_counts(params["name"], "v1", minimum=2)
    flink.wait_checkpoint(started["job_id"], after_ms=time.time() * 1000)
    upgraded = module("flink_job", dict(params, jar=flink.jobs["stateful-v2"],
                                        upgrade_mode="last-state"))
    assert upgraded["action"] == "upgraded", upgraded
    assert "/chk-" in upgraded["restored_from"] and upgraded["savepoint"] is None
    assert flink.state(started["job_id"]) == "CANCELED"
    job = flink.the_running_job(params["name"])
    restored = flink.wait_restored(job["jid"])
    # (Flink reports every restore through savepointPath as is_savepoint, even of a checkpoint.)
    assert restored["external_path"] == upgraded["restored_from"]
    # The counters go on from the checkpoint (>= 100 each): never back to the start.
    seen = flink.wait_counts(params["name"], "v2")
    assert all(counts[0] > 100 for (version, _k), counts in seen.items() if version == "v2")


def test_last_state_without_retained_checkpoints_is_refused(flink, job_params, module):
    params = job_params()
    started = module("flink_job", params)
    flink.wait_checkpoint(started["job_id"])
    refused = module("flink_job", dict(params, jar=flink.jobs["stateful-v2"],
                                       upgrade_mode="last-state"))
    assert refused["failed"] and "RETAIN_ON_CANCELLATION" in refused["msg"]
    assert flink.the_running_job(params["name"])["jid"] == started["job_id"]


def test_stop_with_drain(flink, job_params, module):
    params = job_params()
    started = module("flink_job", params)
    stopped = module("flink_job", dict(params, state="stopped", stop_mode="drain"))
    assert stopped["action"] == "stopped" and stopped["savepoint"]
    assert any("(drain)" in action for action in stopped["actions"])
    assert flink.state(started["job_id"]) == "FINISHED"


def test_spec_records_of_unlisted_runs_are_pruned(flink, job_params, module):
    from ansible_collections.flinkops.flink.plugins.module_utils._spec import JobSpec
    from ansible_collections.flinkops.flink.plugins.module_utils._records._jarstore import EMPTY_ZIP
    from ansible_collections.flinkops.flink.plugins.module_utils._store import read_spec_records, spec_record_names

    params = job_params()
    started = module("flink_job", params)
    orphan = JobSpec(params["name"], "sha256:" + "0" * 16, "org.example.Gone", ["--old"])
    for name in spec_record_names(orphan, "gone.jar"):
        response = requests.post(flink.url + "/jars/upload",
                                 files={"jarfile": (name, EMPTY_ZIP)}, timeout=30)
        response.raise_for_status()
    assert orphan.fingerprint in read_spec_records(flink.jar_names())

    upgraded = module("flink_job", dict(params, jar=flink.jobs["stateful-v2"]))
    assert upgraded["action"] == "upgraded"
    assert any("old spec record" in action for action in upgraded["actions"])
    records = read_spec_records(flink.jar_names())
    assert orphan.fingerprint not in records
    old, new = (flink.spec_fingerprint(r["job_id"]) for r in (started, upgraded))
    assert old in records and new in records
    assert records[new]["name"] == params["name"]


def test_a_stop_prunes_the_spec_records_no_listed_run_needs(flink, job_params, module):
    """Issue 14: a spec recorded by a deployment that never started it (its savepoint failed)
    is dropped by the next stop; the stopped job's own record stays (Flink lists the job)."""
    params = job_params()
    started = module("flink_job", params)

    def specs():
        return set(name.split("-")[2] for name in flink.jar_names() if name.startswith("flinkops-spec-"))

    running_spec = flink.spec_fingerprint(started["job_id"])
    before = specs()
    failed = module("flink_job", dict(params, jar=flink.jobs["stateful-v2"],
                                      savepoint_dir="file:///proc/flinkops-not-writable"))
    assert failed["failed"] and flink.the_running_job(params["name"])["jid"] == started["job_id"]
    # The cluster is shared (other tests' records stay): what this failed run recorded.
    never_started = specs() - before
    assert never_started, "the failed deployment recorded no spec"
    stopped = module("flink_job", dict(params, state="stopped"))
    assert stopped["action"] == "stopped", stopped
    assert running_spec in specs() and not never_started & specs(), (never_started, specs())


def test_a_rotated_secret_that_would_make_a_rollback_impossible_is_refused_before_the_stop(
        flink, job_params, module):
    """Issue 30: only a hash of a secret argument is recorded; with the secret changed together
    with the version, a failing new version could not be rolled back: said before the stop."""
    # The sample job takes no password: its --tag stands for one.
    params = job_params(tag="s3cr3t-one", secret_args=["--tag"])
    started = module("flink_job", params)
    assert started["action"] == "started", json.dumps(started)
    before = flink.snapshot(params["name"])
    rotated = job_params(jar="stateful-v2", tag="s3cr3t-two", secret_args=["--tag"])
    refused = module("flink_job", rotated)
    assert refused["failed"] and not refused["changed"], refused
    assert "could not be started again if the new version failed" in refused["msg"], refused["msg"]
    assert "rollback=false" in refused["msg"] and "nothing was changed" in refused["msg"]
    assert "s3cr3t" not in json.dumps(refused)
    assert flink.snapshot(params["name"]) == before
    assert flink.the_running_job(params["name"])["jid"] == started["job_id"]
    # Accepting no way back, the upgrade goes on.
    upgraded = module("flink_job", dict(rotated, rollback=False))
    assert upgraded["action"] == "upgraded" and upgraded["restored_from"], upgraded


def test_a_failing_version_over_lost_records_is_cancelled_not_left_crash_looping(
        flink, job_params, module):
    """Issue 30: with the running spec's records gone, a failing new version cannot be rolled
    back; it is cancelled (no crash loop) and the message names the stop's savepoint."""
    params = job_params()
    started = module("flink_job", params)
    assert started["action"] == "started", started
    flink.wait_counts(params["name"], "v1", minimum=2)
    for jar in flink.get("/jars")["files"]:
        if jar["name"].startswith("flinkops-spec-"):  # the running version's spec records
            assert requests.delete("%s/jars/%s" % (flink.url, jar["id"]), timeout=30).status_code == 200
    result = module("flink_job", dict(job_params(extra_args=["--variant", "fail-on-start"]),
                                      wait_timeout=60))
    assert result["failed"] and not result.get("rolled_back"), result
    assert "so its spec is unknown; the new job" in result["msg"] and "was cancelled" in result["msg"], \
        result["msg"]
    assert result["savepoint"] and "its state is in %s" % result["savepoint"] in result["msg"], result
    assert any("cannot be started again" in warning for warning in warnings_of(result)), result
    assert flink.active(params["name"]) == []
    # Fixed, the next run resumes from that savepoint.
    fixed = module("flink_job", job_params(jar="stateful-v2"))
    assert fixed["action"] == "resumed" and fixed["restored_from"] == result["savepoint"], fixed
    flink.wait_counts(params["name"], "v2", minimum=2)
    flink.assert_exactly_once(params["name"])


def test_a_program_naming_its_job_otherwise_starts_nothing_and_says_so(flink, job_params, module):
    """Issue 30: the refusal of a job the program named otherwise said action: started."""
    params = job_params()
    other = params["name"] + "-other"
    result = module("flink_job", dict(params, args=["--name", other, "--tag", params["name"]]))
    assert result["failed"] and "the program started a job named %r, not %r" % (other, params["name"]) \
        in result["msg"], result
    assert result["action"] == "none" and result["job_id"] is None, result
    assert result["failed_job_id"] and flink.state(result["failed_job_id"]) in ("CANCELED", "CANCELLING")
    assert flink.active(other) == [] and flink.active(params["name"]) == []
