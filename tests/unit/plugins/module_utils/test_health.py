# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The checkpoint-proving health gate and failure classification, on recorded REST answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.flinkops.flink.plugins.module_utils import _health as health
from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError, FlinkTimeout

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "precheck"
VERSIONS = sorted(p.name for p in FIXTURES.iterdir() if (p / "checkpoints_config_600s.json").exists())
JOB_ID = "0123456789abcdef0123456789abcdef"
TRIGGER = "fedcba9876543210fedcba9876543210"
IN_PROGRESS = (200, {"status": {"id": "IN_PROGRESS"}})


def load(version, name):
    data = json.loads((FIXTURES / version / (name + ".json")).read_text())
    return data["status"], data["body"]


def test_fixtures_cover_the_required_versions():
    assert {"2.3", "1.20"} <= set(VERSIONS)


@pytest.mark.parametrize("version", VERSIONS)
def test_recorded_intervals(version):
    assert health.checkpointing_interval(load(version, "checkpoints_config_600s")[1]) == 600000
    assert health.checkpointing_interval(load(version, "checkpoints_config_off")[1]) is None


@pytest.mark.parametrize("version", VERSIONS)
def test_gate_triggers_a_checkpoint_and_waits_for_it(version, wire, make_client):
    wire.expect(load(version, "checkpoints_config_600s"), load(version, "trigger_default_accepted"),
                IN_PROGRESS, load(version, "trigger_default_completed"))
    proof = health.prove_checkpoint(make_client(), JOB_ID, timeout=30, trigger_id=TRIGGER)
    assert proof["checkpoint_id"] == load(version, "trigger_default_completed")[1]["operation"]["checkpointId"]
    assert proof["interval_ms"] == 600000 and proof["trigger_id"] == TRIGGER
    methods = [(s["method"], s["url"].split("8081")[1]) for s in wire.sent]
    assert methods == [("GET", "/jobs/%s/checkpoints/config" % JOB_ID),
                       ("POST", "/jobs/%s/checkpoints" % JOB_ID),
                       ("GET", "/jobs/%s/checkpoints/%s" % (JOB_ID, TRIGGER)),
                       ("GET", "/jobs/%s/checkpoints/%s" % (JOB_ID, TRIGGER))]
    # The job's configured checkpoint kind: INCREMENTAL is rejected on 2.x.
    assert json.loads(wire.sent[1]["body"]) == {"triggerId": TRIGGER}


@pytest.mark.parametrize("version", VERSIONS)
def test_a_forced_checkpoint_is_reported_in_the_gates_shape(version, wire, make_client):
    """Blue/green's green and the in-place rescale force a checkpoint whatever the interval; the
    result's health.checkpoint has one shape for every strategy (issue 30: an int for blue/green)."""
    wire.expect(load(version, "trigger_default_accepted"), load(version, "trigger_default_completed"))
    proof = health.force_checkpoint(make_client(), JOB_ID, timeout=30)
    assert proof["checkpoint_id"] == load(version, "trigger_default_completed")[1]["operation"]["checkpointId"]
    assert json.loads(wire.sent[0]["body"]) == {"triggerId": proof["trigger_id"]}


@pytest.mark.parametrize("version", VERSIONS)
def test_gate_fails_a_job_with_checkpointing_off_before_triggering(version, wire, make_client):
    wire.expect(load(version, "checkpoints_config_off"))
    with pytest.raises(FlinkError) as err:
        health.prove_checkpoint(make_client(), JOB_ID, timeout=30)
    assert "checkpointing off" in err.value.msg and JOB_ID in err.value.msg
    assert len(wire.sent) == 1


def test_gate_treats_a_404_config_as_checkpointing_off(wire, make_client):
    wire.expect((404, {"errors": ["Checkpointing is not enabled for this job"]}))
    with pytest.raises(FlinkError, match="checkpointing off"):
        health.prove_checkpoint(make_client(), JOB_ID, timeout=30)


@pytest.mark.parametrize("version", VERSIONS)
def test_an_explicit_incremental_trigger_is_rejected_from_1_20(version):
    # Why the gate sends no checkpointType: FLINK-33723 rejects it on 1.20 and 2.x; 1.18.1
    # still accepted it.
    status, answer = load(version, "trigger_incremental")
    if version == "1.18":
        assert status == 202 and len(answer["request-id"]) == 32
    else:
        assert status == 500 and "FLINK-33723" in answer["errors"][1]


def test_a_failed_checkpoint_fails_the_gate_with_its_cause(wire, make_client):
    failed = (200, {"status": {"id": "COMPLETED"}, "operation": {"failure-cause": {
        "class": "org.apache.flink.runtime.checkpoint.CheckpointException",
        "stack-trace": "CheckpointException: Checkpoint expired\nCaused by: java.io.IOException: disk full"}}})
    wire.expect((200, {"interval": 1000}), (202, {"request-id": TRIGGER}), failed)
    with pytest.raises(FlinkError) as err:
        health.prove_checkpoint(make_client(), JOB_ID, timeout=30, trigger_id=TRIGGER)
    assert "failed" in err.value.msg and err.value.cause == "java.io.IOException: disk full"


def test_a_checkpoint_that_never_completes_times_out(wire, make_client):
    wire.expect((200, {"interval": 1000}), (202, {"request-id": TRIGGER}), IN_PROGRESS, IN_PROGRESS)
    with pytest.raises(FlinkTimeout, match="checkpoint triggered on job"):
        health.prove_checkpoint(make_client(), JOB_ID, timeout=0, trigger_id=TRIGGER)


@pytest.mark.parametrize("version", VERSIONS)
def test_failure_classification_on_a_job_that_failed(version):
    info = health.classify_failure(load(version, "failed_exceptions")[1],
                                   load(version, "failed_execution_result")[1])
    assert info["status"] == "FAILED"
    assert info["root_cause"] == ("java.lang.RuntimeException: flinkops test: fail-on-start "
                                  "variant fails on purpose")
    text = health.describe_failure(info)
    assert text.startswith("root cause: java.lang.RuntimeException: flinkops test")


@pytest.mark.parametrize("version", VERSIONS)
def test_failure_classification_of_a_job_that_did_not_fail(version):
    info = health.classify_failure({}, load(version, "cancelled_execution_result")[1])
    assert info["root_cause"] is None and info["status"] == "CANCELED"
    assert health.describe_failure(info) is None


def test_failure_labels_from_an_enricher_are_named():
    exceptions = {"exceptionHistory": {"entries": [{
        "exceptionName": "java.lang.OutOfMemoryError", "stacktrace": "java.lang.OutOfMemoryError: heap",
        "taskName": "counter (1/2)", "failureLabels": {"type": "SYSTEM"},
        "concurrentExceptions": [{"failureLabels": {"team": "data", "type": "USER"}}]}]}}
    info = health.classify_failure(exceptions, {"job-execution-result": {}})
    assert info["labels"] == {"type": "SYSTEM", "team": "data"}
    assert health.describe_failure(info) == ("root cause: java.lang.OutOfMemoryError: heap (task "
                                             "counter (1/2); failure labels team=data, type=SYSTEM)")


def test_read_failure_tolerates_unreadable_answers(wire, make_client):
    wire.expect((404, {"errors": ["not found"]}), (500, {"errors": ["boom"]}))
    assert health.read_failure(make_client(retries=0), JOB_ID)["root_cause"] is None


# ---------------------------------------------------------------------------
# The hooks and the gate the engine runs

class _Run:
    """The parts of the engine a hook uses."""

    def __init__(self, client, **result):
        from ansible_collections.flinkops.flink.plugins.module_utils._request import DeployResult
        self.client = client
        self.result = DeployResult()
        self.result.update(**result)


def labelled_failure():
    return {"exceptionHistory": {"entries": [{
        "stacktrace": "java.lang.RuntimeException: x\nCaused by: java.io.IOException: disk gone",
        "taskName": "counter (1/2)", "failureLabels": {"type": "SYSTEM"}}]}}


def test_failure_classifier_adds_task_and_labels_once(wire, make_client):
    wire.expect((200, labelled_failure()), (200, {"job-execution-result": {
        "application-status": "FAILED"}}))
    failure = FlinkError("job %s went FAILED instead of running" % JOB_ID,
                         cause="java.io.IOException: disk gone")
    run = _Run(make_client(), action="upgraded", job_id="b" * 32, failed_job_id=JOB_ID,
               previous_job_id="c" * 32)
    health.FailureClassifier().after_change(run, failure)
    assert [s["url"].split("8081")[1] for s in wire.sent] == [
        "/jobs/%s/exceptions" % JOB_ID, "/jobs/%s/execution-result" % JOB_ID]
    text = str(failure)
    assert text.count("disk gone") == 1
    assert "task counter (1/2); failure labels type=SYSTEM" in text


def test_failure_classifier_names_a_root_cause_not_shown_yet(wire, make_client):
    wire.expect((200, {}), (200, {"job-execution-result": {"failure-cause": {
        "class": "x", "stack-trace": "org.apache.flink.runtime.JobException: Recovery is "
        "suppressed\nCaused by: java.lang.OutOfMemoryError: Java heap space"}}}))
    failure = FlinkError("the new version failed and was rolled back")
    health.FailureClassifier().after_change(_Run(make_client(), action="started", job_id=JOB_ID),
                                            failure)
    assert str(failure).endswith("root cause: java.lang.OutOfMemoryError: Java heap space")


def test_failure_classifier_reads_again_until_flink_filed_the_failure(wire, make_client):
    """Flink 1.20 under load: the task failure reached the history a moment after the run saw it."""
    empty = (200, {"exceptionHistory": {"entries": []}})
    wire.expect(empty, (200, {}), (200, labelled_failure()), (200, {}))
    failure = FlinkError("the new version failed and was rolled back")
    health.FailureClassifier().after_change(_Run(make_client(), action="started", job_id=JOB_ID),
                                            failure)
    assert len(wire.sent) == 4 and "disk gone" in str(failure)


@pytest.mark.parametrize("result", [
    dict(action="none"),                                   # a refusal before anything changed
    dict(action="upgraded", job_id=None),                  # failed before a submission
    dict(action="upgraded", job_id="c" * 32, previous_job_id="c" * 32),
])
def test_failure_classifier_reads_nothing_without_a_new_job(make_client, wire, result):
    failure = FlinkError("boom")
    health.FailureClassifier().after_change(_Run(make_client(), **result), failure)
    health.FailureClassifier().after_change(_Run(make_client(), **result), None)
    assert wire.sent == [] and str(failure) == "boom"


class _Request:
    wait_timeout = 5
    savepoint_timeout = 5
    health_window = 0
    health_require_checkpoint = True


OVERVIEW = {"jobs": [{"jid": JOB_ID, "name": "orders", "state": "RUNNING", "start-time": 1,
                      "tasks": {"total": 2, "running": 2}}]}


def test_health_gate_proves_a_checkpoint_without_a_window(wire, make_client):
    wire.expect((200, OVERVIEW), (200, {"exceptionHistory": {"entries": []}}),
                (200, {"interval": 600000}), (202, {"request-id": TRIGGER}),
                (200, {"status": {"id": "COMPLETED"}, "operation": {"checkpointId": 9}}))
    fields = health.health_gate(make_client(), _Request(), JOB_ID, 0)
    assert fields["job"]["jid"] == JOB_ID
    assert fields["health"]["window"] == 0 and fields["health"]["checkpoint"]["checkpoint_id"] == 9


def test_health_gate_failure_keeps_what_was_seen(wire, make_client):
    from ansible_collections.flinkops.flink.plugins.module_utils._request import DeployResult
    wire.expect((200, OVERVIEW), (200, {"exceptionHistory": {"entries": []}}),
                (200, {"interval": 2 ** 63 - 1}))
    result = DeployResult()
    with pytest.raises(FlinkError, match="checkpointing off"):
        health.health_gate(make_client(), _Request(), JOB_ID, 0, result)
    assert result.job["jid"] == JOB_ID


def test_a_stuck_trigger_is_proven_by_a_checkpoint_the_job_completed(wire, make_client, monkeypatch):
    """A trigger that reached tasks as a bounded input finished stayed IN_PROGRESS for good
    (Flink 2.3, the zoo's side-input job): the job's own completed checkpoint proves it."""
    monkeypatch.setattr(health, "HISTORY_EVERY_POLLS", 2)
    history = (200, {"latest": {"completed": {"id": 42, "is_savepoint": False}}})
    wire.expect((200, {"interval": 1000}), (202, {"request-id": TRIGGER}), IN_PROGRESS,
                IN_PROGRESS, history)
    proof = health.prove_checkpoint(make_client(), JOB_ID, timeout=30, trigger_id=TRIGGER)
    assert proof["checkpoint_id"] == 42


def test_a_savepoint_in_the_history_is_no_proof(wire, make_client, monkeypatch):
    monkeypatch.setattr(health, "HISTORY_EVERY_POLLS", 1)
    savepoint = (200, {"latest": {"completed": {"id": 7, "is_savepoint": True}}})
    wire.expect((200, {"interval": 1000}), (202, {"request-id": TRIGGER}), IN_PROGRESS, savepoint,
                load("2.3", "trigger_default_completed"))
    proof = health.prove_checkpoint(make_client(), JOB_ID, timeout=30, trigger_id=TRIGGER)
    assert proof["checkpoint_id"] == load("2.3", "trigger_default_completed")[1]["operation"]["checkpointId"]
