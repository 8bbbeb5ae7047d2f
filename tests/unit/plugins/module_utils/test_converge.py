# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The converge planner (flink_jobs) on plain values: plan, checks before any change, order,
failure policy and summary; which active jobs the records call managed; and the survey of the
undeclared jobs on a scripted Flink."""

from __future__ import annotations

import threading

import pytest

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils import _converge
from ansible_collections.flinkops.flink.plugins.module_utils._identity import deployed_by_collection
from ansible_collections.flinkops.flink.plugins.module_utils._converge import (
    PlanEntry,
    Probe,
    Running,
    Survey,
    apply_plan,
    differences,
    failure_message,
    graph_differences,
    make_plan,
    ordered,
    plan_problems,
    prune_request,
    summary,
)
from ansible_collections.flinkops.flink.plugins.module_utils._guard import confirmation_name
from ansible_collections.flinkops.flink.plugins.module_utils._oplog import operation_names
from ansible_collections.flinkops.flink.plugins.module_utils._records._state import StateStore
from ansible_collections.flinkops.flink.plugins.module_utils._request import DeployRequest, DeployResult
from ansible_collections.flinkops.flink.plugins.module_utils._spec import JobSpec
from ansible_collections.flinkops.flink.plugins.module_utils._store import spec_record_names

SPDIR = "file:///flink/savepoints"
A_ID, B_ID, C_ID, D_ID, E_ID = ("a" * 32, "b" * 32, "c" * 32, "d" * 32, "e" * 32)


def spec(name, **changes):
    fields = dict(jar="sha256:" + "1" * 16, entry_class="org.example.Job", args=["--v1"],
                  parallelism=1, configuration={"execution.checkpointing.interval": "1s"})
    fields.update(changes)
    return dict(JobSpec(name, **fields).to_dict(), fingerprint="f")


def upgrade_probe(name, job_id, **changes):
    return Probe(name, action="upgraded", current=job_id,
                 diff={"before": spec(name), "after": spec(name, **changes)}, slots=2)


def a_plan():
    """Every kind of entry: upgrade, start, unchanged, unmanaged (declared and not), prune."""
    probes = [upgrade_probe("orders", A_ID, parallelism=2),
              Probe("payments", action="started", slots=1,
                    actions=["start job payments (f) from empty state"]),
              Probe("audit", action="none", current=B_ID, diff={"before": spec("audit"),
                                                                "after": spec("audit")}),
              Probe("clicks", action="upgraded", current=C_ID, managed=False, slots=1)]
    others = [Running("fraud", D_ID, managed=True), Running("adhoc", E_ID, managed=False, slots=3)]
    return make_plan(probes, others, "savepoint", SPDIR)


def by_name(plan):
    return dict((entry.name, entry) for entry in plan)


# ---------------------------------------------------------------------------- the plan

def test_the_plan_names_each_job_with_its_action_in_declared_then_name_order():
    plan = a_plan()
    assert [(e.name, e.action) for e in plan] == [
        ("orders", "upgrade"), ("payments", "start"), ("audit", "unchanged"),
        ("clicks", "unmanaged"), ("adhoc", "unmanaged"), ("fraud", "prune")]


def test_an_upgrade_says_what_differs_field_by_field():
    plan = by_name(a_plan())
    assert plan["orders"].differences == ["parallelism: 1 -> 2"]
    assert plan["orders"].job_id == A_ID
    configuration = {"execution.checkpointing.interval": "5s", "pipeline.max-parallelism": "64"}
    found = differences({"before": spec("x"),
                         "after": spec("x", jar="sha256:" + "2" * 16, configuration=configuration)})
    assert found == ["jar: sha256:%s -> sha256:%s" % ("1" * 16, "2" * 16),
                     "configuration execution.checkpointing.interval: 1s -> 5s",
                     "configuration pipeline.max-parallelism: (not set) -> 64"]


def test_an_unknown_running_spec_is_said_so():
    assert differences({"before": {"note": "job not started by flinkops.flink: spec unknown"},
                        "after": spec("x")}) == [
        "the running job's spec is unknown (job not started by flinkops.flink: spec unknown)"]


def test_a_start_says_where_its_state_comes_from():
    plan = by_name(a_plan())
    assert plan["payments"].differences == ["not running: start from empty state"]
    resumed = make_plan([Probe("p", action="resumed", result={"restored_from": "file:/sp/sp-1"})], [])
    assert resumed[0].action == "start"
    assert resumed[0].differences == ["not running: start from file:/sp/sp-1"]


def test_a_prune_says_how_and_where_the_state_goes():
    fraud = by_name(a_plan())["fraud"]
    assert (fraud.prune, fraud.state_to, fraud.job_id) == ("savepoint", SPDIR, D_ID)
    assert "stop with a savepoint to %s" % SPDIR in fraud.differences[0]
    assert "resumes from it" in fraud.differences[0]
    cancelled = make_plan([], [Running("fraud", D_ID, True)], "cancel", SPDIR)[0]
    assert (cancelled.prune, cancelled.state_to) == ("cancel", "discarded")
    assert "state is discarded" in cancelled.differences[0]
    kept = make_plan([], [Running("fraud", D_ID, True)], "none", SPDIR)[0]
    assert kept.prune == "none" and not kept.changes


def test_jobs_the_collection_did_not_deploy_are_never_changed():
    plan = by_name(a_plan())
    for name in ("clicks", "adhoc"):
        assert plan[name].action == "unmanaged" and not plan[name].changes
    assert "not deployed by flinkops.flink" in plan["clicks"].differences[0]
    assert [e.name for e in ordered(a_plan())] == ["fraud", "orders", "payments"]


def test_a_failed_probe_is_a_plan_error_not_an_action():
    probe = Probe("orders", current=A_ID, error=FlinkError("upgrade refused before anything stopped"))
    entry = make_plan([probe], [])[0]
    assert (entry.action, entry.error) == ("upgrade", "upgrade refused before anything stopped")


def test_plan_entries_serialise_with_only_what_applies():
    plan = by_name(a_plan())
    assert plan["audit"].to_dict() == {"name": "audit", "action": "unchanged", "differences": [],
                                       "job_id": B_ID}
    assert set(plan["fraud"].to_dict()) == {"name", "action", "differences", "job_id", "prune",
                                            "state_to"}


# ---------------------------------------------------------------------------- refused before any change

def test_a_sound_plan_has_no_problem():
    assert plan_problems(a_plan(), declared=4, max_prune=1, slots_total=8, savepoint_dir=SPDIR) == []


def test_an_empty_job_list_is_refused_naming_what_it_would_prune():
    plan = make_plan([], [Running("fraud", D_ID, True), Running("adhoc", E_ID, False, 1)],
                     "savepoint", SPDIR)
    problems = plan_problems(plan, declared=0, max_prune=5, slots_total=8, savepoint_dir=SPDIR)
    assert len(problems) == 1
    assert problems[0].startswith("jobs is empty") and "(fraud)" in problems[0]
    assert "adhoc" not in problems[0]


def test_more_prunes_than_max_prune_are_refused_naming_the_jobs_and_the_option():
    plan = make_plan([Probe("orders", current=A_ID, diff={"before": spec("o"), "after": spec("o")})],
                     [Running("fraud", D_ID, True), Running("clicks", C_ID, True)], "savepoint", SPDIR)
    problems = plan_problems(plan, declared=1, max_prune=1, slots_total=8, savepoint_dir=SPDIR)
    assert len(problems) == 1
    assert "prunes 2 jobs (clicks, fraud), more than max_prune (1)" in problems[0]
    assert "raise max_prune to 2" in problems[0]
    assert plan_problems(plan, declared=1, max_prune=2, slots_total=8, savepoint_dir=SPDIR) == []


def test_prune_none_does_not_count_against_max_prune_but_keeps_its_slots():
    plan = make_plan([], [Running("fraud", D_ID, True, 3), Running("clicks", C_ID, True, 4)],
                     "none", SPDIR)
    assert plan_problems(plan, declared=1, max_prune=0, slots_total=8, savepoint_dir=None) == []
    assert plan_problems(plan, declared=1, max_prune=0, slots_total=6, savepoint_dir=None) == [
        "the target set needs 7 task slots and the cluster has 6 (clicks: 4, fraud: 3)"]


def test_too_few_slots_for_the_target_set_is_refused():
    # orders 2 + payments 1 + audit 1 + clicks 1 + adhoc 3 (unmanaged, stays); fraud is pruned.
    problems = plan_problems(a_plan(), declared=4, max_prune=1, slots_total=7, savepoint_dir=SPDIR)
    assert problems == ["the target set needs 8 task slots and the cluster has 7 (orders: 2, "
                        "payments: 1, audit: 1, clicks: 1, adhoc: 3)"]


def test_a_probe_error_and_a_missing_savepoint_dir_are_refused_together():
    plan = make_plan([Probe("orders", current=A_ID, error=FlinkError("JAR file x.jar does not exist"))],
                     [Running("fraud", D_ID, True)], "savepoint", None)
    problems = plan_problems(plan, declared=1, max_prune=1, slots_total=8, savepoint_dir=None)
    assert problems == ["job orders (upgrade): JAR file x.jar does not exist",
                        "prune: savepoint needs a savepoint directory and the cluster configures "
                        "none (execution.checkpointing.savepoint-dir, state.savepoints.dir on 1.x)"]


# ---------------------------------------------------------------------------- apply

def test_prunes_and_upgrades_are_applied_before_starts():
    seen = []
    outcomes, failures, skipped = apply_plan(a_plan(), lambda e: seen.append(e.name) or {"action": e.action})
    assert seen == ["fraud", "orders", "payments"]
    assert (failures, skipped) == ([], [])
    assert set(outcomes) == {"fraud", "orders", "payments"}


def failing_on(name):
    seen = []

    def deploy(entry):
        seen.append(entry.name)
        if entry.name == name:
            error = FlinkError("the new version failed and was rolled back")
            error.job_outcome = {"action": "upgraded", "rolled_back": True}
            raise error
        return {"action": "done"}
    return deploy, seen


def test_failure_policy_stop_leaves_every_later_job_untouched():
    deploy, seen = failing_on("orders")
    outcomes, failures, skipped = apply_plan(a_plan(), deploy, "stop")
    assert seen == ["fraud", "orders"]
    assert [e.name for e, _exc in failures] == ["orders"] and [e.name for e in skipped] == ["payments"]
    assert outcomes["orders"]["failed"] and outcomes["orders"]["rolled_back"]
    assert outcomes["payments"]["skipped"] and "orders failed first" in outcomes["payments"]["msg"]
    message = failure_message(failures, skipped, summary(a_plan(), outcomes))
    assert message.startswith("job orders (upgrade) failed: the new version failed and was rolled back")
    assert "Not attempted (failure_policy: stop): payments" in message
    assert "1 failed (orders)" in message and "1 not attempted (payments)" in message


def test_failure_policy_continue_carries_the_others_out():
    deploy, seen = failing_on("orders")
    outcomes, failures, skipped = apply_plan(a_plan(), deploy, "continue")
    assert seen == ["fraud", "orders", "payments"]
    assert [e.name for e, _exc in failures] == ["orders"] and skipped == []
    assert outcomes["payments"] == {"action": "done"}


# ---------------------------------------------------------------------------- the summary line

def test_the_summary_before_and_after():
    plan = a_plan()
    assert summary(plan) == ("1 to upgrade, 1 to start, 1 to prune (savepoint to %s), 1 unchanged, "
                             "2 unmanaged" % SPDIR)
    outcomes = {"orders": {"action": "upgraded"}, "payments": {"action": "started"},
                "fraud": {"action": "stopped", "savepoint": "file:/flink/savepoints/savepoint-dd-1"}}
    assert summary(plan, outcomes) == ("1 upgraded, 1 started, 1 pruned (savepoint "
                                       "file:/flink/savepoints/savepoint-dd-1), 1 unchanged, 2 unmanaged")
    cancelled = make_plan([], [Running("fraud", D_ID, True)], "cancel", SPDIR)
    assert summary(cancelled, {"fraud": {"action": "cancelled"}}) == "1 pruned (cancelled, state discarded)"
    kept = make_plan([], [Running("fraud", D_ID, True, 1)], "none", SPDIR)
    assert summary(kept, {}) == "1 not declared, left running (prune: none)"
    assert summary([]) == "no jobs"


def test_a_prune_runs_the_engines_stop_path():
    entry = PlanEntry("fraud", "prune", job_id=D_ID, prune="savepoint")
    request = prune_request(entry)
    assert (request.name, request.state, request.stop_mode) == ("fraud", "stopped", "savepoint")
    assert prune_request(PlanEntry("fraud", "prune", prune="cancel")).stop_mode == "cancel"


# ---------------------------------------------------------------------------- managed or not

def entries(*names):
    return [{"id": "x%d_%s" % (i, name), "name": name, "uploaded": i} for i, name in enumerate(names)]


def test_a_confirmed_job_is_managed_and_another_job_of_the_name_is_not():
    records = entries(confirmation_name("fraud", D_ID, "1" * 16))
    assert deployed_by_collection(records, "fraud", D_ID)
    assert not deployed_by_collection(records, "fraud", E_ID)  # started by hand after a prune
    assert not deployed_by_collection(records, "other", D_ID)  # the record is of another name


def test_a_job_the_operation_log_names_is_managed():
    records = entries(*operation_names("fraud", {"action": "started", "job_id": D_ID}, now_ms=1))
    assert deployed_by_collection(records, "fraud", D_ID)
    assert not deployed_by_collection(records, "fraud", E_ID)


def test_a_job_id_of_an_older_release_is_recognised_by_its_spec_record():
    job_spec = JobSpec("fraud", "sha256:" + "1" * 16)
    records = entries(*spec_record_names(job_spec, "jar-1"))
    assert deployed_by_collection(records, "fraud", job_spec.fingerprint + "0" * 16)
    assert not deployed_by_collection(records, "fraud", D_ID)
    assert not deployed_by_collection([], "fraud", D_ID)


# ---------------------------------------------------------------------------- the survey, on a scripted Flink

def overview_job(name, jid, state="RUNNING"):
    return {"jid": jid, "name": name, "state": state, "start-time": 1, "tasks": {"total": 1, "running": 1}}


def test_the_survey_reads_the_records_once_and_the_slots_only_of_jobs_that_stay(client, script):
    script.on("GET", "/jobs/overview", {"jobs": [
        overview_job("orders", A_ID), overview_job("fraud", D_ID), overview_job("adhoc", E_ID),
        overview_job("old", C_ID, state="FINISHED")]})
    script.on("GET", "/jars", {"files": entries(confirmation_name("fraud", D_ID, "1" * 16))})
    script.on("GET", "/jobs/%s" % E_ID, {"vertices": [{"parallelism": 2}, {"parallelism": 3}]})
    survey = Survey(client, StateStore(None, client))
    found = survey.others([DeployRequest(name="orders")], "savepoint")
    assert [(r.name, r.job_id, r.managed, r.slots) for r in found] == [
        ("fraud", D_ID, True, None), ("adhoc", E_ID, False, 3)]


def test_a_declared_job_is_probed_by_the_engine_in_check_mode(client, monkeypatch):
    seen = []

    class RefusingEngine:
        def __init__(self, client, request, changes, state=None):
            seen.append((request.name, changes.check_mode))
            self.current, self.hooks, self.result = None, [], DeployResult()

        def run(self):
            raise FlinkError("JAR file missing.jar does not exist (or is not a file)")

    monkeypatch.setattr(_converge, "Engine", RefusingEngine)
    survey = Survey(client, StateStore(None, client))
    survey._config = {"parallelism.default": "2"}  # read once per run, not scripted here
    probe = survey.probe(DeployRequest(name="orders", jar_path="missing.jar"))
    assert seen == [("orders", True)]
    assert probe.error.msg.startswith("JAR file missing.jar does not exist")
    assert (probe.slots, probe.current, probe.managed) == (2, None, True)
    entry = make_plan([probe], [])[0]
    assert (entry.action, entry.error) == ("start", probe.error.msg)


# ---------------------------------------------------------------------------- adoption

def hand_started(name, graph):
    """A declared job, adopted by name, whose running job was started another way."""
    return Probe(name, action="upgraded", current=E_ID, managed=False, adopt=True, graph=graph,
                 diff={"before": {"note": "job not started by flinkops.flink: spec unknown"},
                       "after": spec(name)}, error=FlinkError("the pre-check could not run"))


def test_an_adopted_job_whose_graph_matches_is_adopted_not_restarted():
    entry = make_plan([hand_started("sessions", [])], [])[0]
    assert (entry.action, entry.job_id, entry.error) == ("adopt", E_ID, None)
    assert "without a restart: its job graph matches" in entry.differences[0]
    assert entry.changes and [e.name for e in ordered([entry])] == ["sessions"]
    assert plan_problems([entry], declared=1, max_prune=1, slots_total=8, savepoint_dir=SPDIR) == []
    assert summary([entry]) == "1 to adopt"
    assert summary([entry], {"sessions": {"action": "adopted"}}) == "1 adopted"
    # The graph differed once the JAR was uploaded: the job was upgraded instead.
    assert summary([entry], {"sessions": {"action": "upgraded"}}) == "1 upgraded"


def test_an_adopted_job_not_compared_yet_says_so():
    entry = make_plan([hand_started("sessions", None)], [])[0]
    assert entry.action == "adopt" and "not compared yet" in entry.differences[0]


def test_an_adopted_job_whose_graph_differs_is_an_upgrade_saying_why():
    probe = hand_started("sessions", ["vertex v1 (counter) parallelism: 1 -> 2"])
    probe.error = None
    entry = make_plan([probe], [])[0]
    assert entry.action == "upgrade"
    assert "its job graph differs" in entry.differences[0]
    assert entry.differences[1:] == ["vertex v1 (counter) parallelism: 1 -> 2"]


def test_a_job_started_another_way_and_not_adopted_stays_unmanaged():
    probe = hand_started("sessions", [])
    probe.adopt = False
    assert make_plan([probe], [])[0].action == "unmanaged"


def test_graph_differences_compare_vertex_ids_and_parallelism():
    plan_answer = {"plan": {"nodes": [
        {"id": "v1", "parallelism": 2, "description": "Source: numbers<br/>"},
        {"id": "v2", "parallelism": 2, "description": "counter"}]}}
    same = {"vertices": [{"id": "v1", "name": "Source: numbers", "parallelism": 2},
                         {"id": "v2", "name": "counter", "parallelism": 2}]}
    assert graph_differences(plan_answer, same) == []
    other = {"vertices": [{"id": "v1", "name": "Source: numbers", "parallelism": 1},
                          {"id": "v3", "name": "sink", "parallelism": 1}]}
    assert graph_differences(plan_answer, other) == [
        "vertex v1 (Source: numbers) parallelism: 1 -> 2",
        "vertex v2 (counter) only in the declared program",
        "vertex v3 (sink) only in the running job"]


# ---------------------------------------------------------------------------- max_parallel

def upgrades_and_starts():
    """Three upgrades, two starts and a prune, in that declared order."""
    probes = [upgrade_probe(name, job_id, parallelism=2)
              for name, job_id in (("u1", A_ID), ("u2", B_ID), ("u3", C_ID))]
    probes += [Probe(name, action="started") for name in ("s1", "s2")]
    return make_plan(probes, [Running("old", D_ID, managed=True)], "savepoint", SPDIR)


def test_jobs_of_one_kind_change_at_once_up_to_max_parallel():
    # Two upgrades meet at a barrier: they can only pass it if they run at the same time.
    met = threading.Barrier(2, timeout=10)
    lock = threading.Lock()
    running, most, seen = [], [0], []

    def deploy(entry):
        with lock:
            running.append(entry.name)
            most[0] = max(most[0], len(running))
            seen.append(("begin", entry.name))
        if entry.name in ("u1", "u2"):
            met.wait()
        with lock:
            running.remove(entry.name)
            seen.append(("end", entry.name))
        return {"action": entry.action}

    outcomes, failures, skipped = apply_plan(upgrades_and_starts(), deploy, max_parallel=2)
    assert (failures, skipped) == ([], [])
    assert set(outcomes) == {"old", "u1", "u2", "u3", "s1", "s2"}
    assert most[0] == 2  # never more than max_parallel at once
    # The prune ends before any upgrade begins, every upgrade ends before the first start.
    order = [name for _event, name in seen]
    assert order.index("old") == 0 and order[1] == "old"
    last_upgrade_end = max(i for i, (event, name) in enumerate(seen) if event == "end" and name[0] == "u")
    first_start = min(i for i, (event, name) in enumerate(seen) if event == "begin" and name[0] == "s")
    assert last_upgrade_end < first_start


def test_with_stop_a_failure_lets_the_jobs_under_way_finish_and_starts_no_other():
    # u1 fails while u2 runs (u2 ends after u1 has failed): u2 finishes, u3 and the starts
    # are not attempted; the result lists them in apply order.
    u1_failed, u2_began = threading.Event(), threading.Event()
    seen = []

    def deploy(entry):
        seen.append(entry.name)
        if entry.name == "u1":
            assert u2_began.wait(10)
            try:
                raise FlinkError("the new version failed and was rolled back")
            finally:
                u1_failed.set()
        if entry.name == "u2":
            u2_began.set()
            assert u1_failed.wait(10)
        return {"action": "upgraded"}

    outcomes, failures, skipped = apply_plan(upgrades_and_starts(), deploy, "stop", max_parallel=2)
    assert sorted(seen) == ["old", "u1", "u2"]
    assert [e.name for e, _exc in failures] == ["u1"]
    assert outcomes["u2"] == {"action": "upgraded"}
    assert [e.name for e in skipped] == ["u3", "s1", "s2"]
    assert all("job u1 failed first" in outcomes[e.name]["msg"] for e in skipped)


def test_with_continue_every_failure_is_listed_in_apply_order_whatever_ended_first():
    u2_failed = threading.Event()

    def deploy(entry):
        if entry.name == "u2":
            u2_failed.set()
            raise FlinkError("u2 failed")
        if entry.name == "u1":
            assert u2_failed.wait(10)  # u1 fails after u2
            raise FlinkError("u1 failed")
        return {"action": "done"}

    outcomes, failures, skipped = apply_plan(upgrades_and_starts(), deploy, "continue", max_parallel=3)
    assert [e.name for e, _exc in failures] == ["u1", "u2"] and skipped == []
    assert outcomes["s1"] == outcomes["s2"] == {"action": "done"}


def test_an_unexpected_error_in_a_thread_is_raised_not_lost():
    def deploy(entry):
        if entry.name == "u3":
            raise KeyError("jid")
        return {"action": "done"}

    with pytest.raises(KeyError):
        apply_plan(upgrades_and_starts(), deploy, max_parallel=3)


def test_each_thread_that_applies_the_plan_has_its_own_connection():
    opened, closed = [], []

    class Store:
        def close(self):
            closed.append(self)

    def connect():
        connection = (object(), Store())
        opened.append(connection)
        return connection

    own = ("client", Store())
    connections = _converge.Connections(own[0], own[1], connect)
    assert connections.get() == own  # the run's own thread keeps the run's connection
    got = []

    def worker():
        got.append((connections.get(), connections.get()))
    threads = [threading.Thread(target=worker) for _thread in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(first is second for first, second in got)  # one per thread, kept
    assert len(opened) == 2 and set(id(first) for first, _second in got) == set(map(id, opened))
    connections.close()
    assert sorted(map(id, closed)) == sorted(id(state) for _client, state in opened)
    # Without connect (max_parallel 1), every thread uses the run's own.
    single = _converge.Connections(own[0], own[1])
    result = []
    thread = threading.Thread(target=lambda: result.append(single.get()))
    thread.start()
    thread.join()
    assert result == [own] and len(opened) == 2


def test_the_probes_run_at_once_up_to_max_parallel_and_come_back_in_declared_order():
    met = threading.Barrier(3, timeout=10)  # passed only by three calls at the same time

    def probe(name):
        met.wait()
        return name.upper()
    assert _converge.in_parallel(["c", "a", "b"], probe, 3) == ["C", "A", "B"]
    assert _converge.in_parallel(["c", "a"], str.upper, 1) == ["C", "A"]

    def failing(name):
        if name == "a":
            raise FlinkError("JAR file a.jar does not exist")
        return name
    with pytest.raises(FlinkError, match="a.jar"):
        _converge.in_parallel(["c", "a", "b"], failing, 2)
