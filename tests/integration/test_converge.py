# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""flink_jobs (converge a session cluster to a declared set of jobs) against real clusters; every
claim checked through Flink's REST API or the jobs' own output.

The cluster is shared with other tests: every assertion on the plan looks at this test's own job
names, and every test waits at its end until its jobs have ended (a job still cancelling would be
an active managed job in the next test's converge)."""

from __future__ import annotations

import os
import threading
import time

import pytest

from flinkops_devkit import flinkctl
from flinkops_devkit.faultproxy import FaultProxy
from flinkops_devkit.modules import ModuleRun, collection_root, warnings_of
from flinkops_devkit.observer import ACTIVE
from flinkops_devkit.playbooks import run_playbook


@pytest.fixture
def names(flink, unique_job_name):
    """``names("a", "b")``: job names of this test; at teardown its jobs are cancelled and waited for."""
    def make(*suffixes):
        return ["%s-%s" % (unique_job_name, suffix) for suffix in suffixes]
    yield make
    deadline = time.time() + 60
    while time.time() < deadline:
        active = [job for job in flink.get("/jobs/overview")["jobs"]
                  if job["name"].startswith(unique_job_name) and job["state"] in ACTIVE]
        if not active:
            return
        for job in active:
            if job["state"] != "CANCELLING":
                flinkctl.rest(flink.url, "PATCH", "/jobs/%s?mode=cancel" % job["jid"], timeout=10)
        time.sleep(0.5)


def declared(flink, name, jar="stateful-v1", **overrides):
    """One item of a cluster file: the sample stateful job, printing its counts tagged by name."""
    item = dict(name=name, jar=flink.jobs[jar], entry_class=flink.entry_class,
                args=["--name", name, "--tag", name, "--rate", "400"])
    item.update(overrides)
    return item


def converge(module, flink, jobs, check=False, diff=False, url=None, **options):
    return module("flink_jobs", dict(url=url or flink.url, jobs=jobs, **options), check=check, diff=diff)


def plan_of(result, names):
    """{name: plan entry} of this test's jobs (the shared cluster may run others)."""
    return dict((entry["name"], entry) for entry in result["plan"] if entry["name"] in names)


def outcome_of(result, name):
    return next(job for job in result["jobs"] if job["name"] == name)


def writes(proxy):
    """The requests that could change something, of those the proxy forwarded."""
    return [(method, path) for method, path in proxy.seen if method != "GET"]


def test_five_jobs_converged_changed_pruned_and_added_back(flink, module, names):
    a, b, c, d, e, f = names("a", "b", "c", "d", "e", "f")
    mine = [a, b, c, d, e, f]
    first = converge(module, flink, [declared(flink, n) for n in (a, b, c, d, e)])
    assert first["changed"] and not first.get("failed"), first
    assert {n: p["action"] for n, p in plan_of(first, mine).items()} == dict.fromkeys([a, b, c, d, e], "start")
    assert first["summary"].startswith("5 started"), first["summary"]
    started = dict((n, flink.the_running_job(n)["jid"]) for n in (a, b, c, d, e))
    for name in (a, b, c, d, e):
        assert outcome_of(first, name)["job_id"] == started[name]
        flink.wait_counts(name, "v1", minimum=2)

    # The file changes two specs (a, b), removes one (c), keeps two (d, e) and adds one (f).
    changed_file = [declared(flink, a, jar="stateful-v2"), declared(flink, b, parallelism=2),
                    declared(flink, d), declared(flink, e), declared(flink, f)]
    before = flink.snapshot(a[:-2])
    planned = converge(module, flink, changed_file, check=True, diff=True)
    assert planned["changed"] and not planned.get("failed"), planned
    assert flink.snapshot(a[:-2]) == before  # check mode changed nothing
    # Exactly those four changes, and nothing else on the cluster (other jobs are unmanaged).
    changes = dict((p["name"], p["action"]) for p in planned["plan"] if p["action"] not in ("unchanged", "unmanaged"))
    assert changes == {a: "upgrade", b: "upgrade", c: "prune", f: "start"}, planned["plan"]
    plan = plan_of(planned, mine)
    assert plan[d]["action"] == plan[e]["action"] == "unchanged"
    assert [text.split(":")[0] for text in plan[a]["differences"]] == ["jar"]
    assert [text.split(":")[0] for text in plan[b]["differences"]] == ["parallelism"], plan[b]
    assert plan[c]["prune"] == "savepoint" and plan[c]["job_id"] == started[c]
    assert plan[c]["state_to"] and "stop with a savepoint" in plan[c]["differences"][0]
    assert plan[f]["differences"] == ["not running: start from empty state"]
    assert planned["summary"].startswith("2 to upgrade, 1 to start, 1 to prune (savepoint to "), planned["summary"]
    assert any("prune %s" % c in part.get("prepared", "") for part in planned["diff"])

    applied = converge(module, flink, changed_file, max_parallel=2)
    assert applied["changed"] and not applied.get("failed"), applied
    assert applied["summary"].startswith("2 upgraded, 1 started, 1 pruned (savepoint "), applied["summary"]
    pruned, added = outcome_of(applied, c), outcome_of(applied, f)
    for name in (a, b):
        upgraded = outcome_of(applied, name)
        assert upgraded["action"] == "upgraded" and upgraded["previous_job_id"] == started[name]
        assert upgraded["restored_from"] == upgraded["savepoint"]
        assert flink.the_running_job(name)["jid"] == upgraded["job_id"]
        assert flink.wait_restored(upgraded["job_id"])["external_path"] == upgraded["savepoint"]
    assert pruned["action"] == "stopped" and pruned["previous_job_id"] == started[c]
    assert pruned["savepoint"] and pruned["savepoint"] in applied["summary"]
    assert flink.state(started[c]) == "FINISHED"  # stopped with a savepoint, not cancelled
    assert not flink.active(c)
    assert added["action"] == "started" and flink.the_running_job(f)["jid"] == added["job_id"]
    for name in (d, e):
        assert flink.the_running_job(name)["jid"] == started[name]  # unchanged: never touched
    # The upgraded jobs carried their state over exactly once (none replayed, none lost).
    flink.wait_counts(a, "v2", minimum=2)
    flink.wait_counts(b, "v1", minimum=4)
    for name in (a, b):
        flink.assert_exactly_once(name)

    # Converging again to the same file changes nothing and sends no request but reads.
    before = flink.snapshot(a[:-2])
    with FaultProxy(flink.url) as proxy:
        again = converge(module, flink, changed_file, url=proxy.url)
    assert not again["changed"] and again["actions"] == [], again
    assert {n: p["action"] for n, p in plan_of(again, mine).items()} == dict.fromkeys([a, b, d, e, f], "unchanged")
    assert proxy.seen and writes(proxy) == [], writes(proxy)
    assert flink.snapshot(a[:-2]) == before

    # The removed job declared again resumes from the savepoint its prune took.
    readded = converge(module, flink, changed_file + [declared(flink, c)])
    assert readded["changed"] and not readded.get("failed"), readded
    assert plan_of(readded, [c])[c]["action"] == "start"
    back = outcome_of(readded, c)
    assert back["action"] == "resumed" and back["restored_from"] == pruned["savepoint"], back
    assert flink.wait_restored(back["job_id"])["external_path"] == pruned["savepoint"]
    flink.wait_counts(c, "v1", minimum=4)
    flink.assert_exactly_once(c)


def start_by_hand(flink, name, **body):
    """A job submitted through raw REST (like `flink run`): the collection has no record of it."""
    status, uploaded = flinkctl.upload_jar(flink.url, flink.jobs["stateful-v1"])
    assert status == 200, uploaded
    jar_id = uploaded["filename"].rsplit("/", 1)[-1]
    status, answer = flinkctl.rest(flink.url, "POST", "/jars/%s/run" % jar_id, dict(
        entryClass=flink.entry_class, programArgsList=["--name", name, "--tag", name, "--rate", "400"],
        **body))
    assert status == 200, answer
    return answer["jobid"]


def test_jobs_not_deployed_by_the_collection_are_listed_and_never_touched(flink, module, names):
    ours, theirs, declared_theirs = names("ours", "theirs", "declared-theirs")
    hand = dict((name, start_by_hand(flink, name)) for name in (theirs, declared_theirs))
    # A declared job of the same name as a job started by hand is not taken over either.
    result = converge(module, flink, [declared(flink, ours), declared(flink, declared_theirs)])
    assert not result.get("failed"), result
    plan = plan_of(result, [ours, theirs, declared_theirs])
    expected = {ours: "start", theirs: "unmanaged", declared_theirs: "unmanaged"}
    assert {n: e["action"] for n, e in plan.items()} == expected
    assert plan[theirs]["job_id"] == hand[theirs]
    assert "not deployed by flinkops.flink" in plan[declared_theirs]["differences"][0]
    # Left out of the file, a job started by hand is still not pruned.
    again = converge(module, flink, [declared(flink, ours)])
    assert not again["changed"] and not again.get("failed"), again
    assert {n: e["action"] for n, e in plan_of(again, [theirs, declared_theirs]).items()} == {
        theirs: "unmanaged", declared_theirs: "unmanaged"}
    for name in (theirs, declared_theirs):
        assert [job["jid"] for job in flink.active(name)] == [hand[name]]
        assert flink.state(hand[name]) == "RUNNING"


def test_an_empty_or_truncated_file_fails_and_changes_nothing(flink, module, names):
    p, q, r = names("p", "q", "r")
    assert not converge(module, flink, [declared(flink, p), declared(flink, q)]).get("failed")
    running = dict((n, flink.the_running_job(n)["jid"]) for n in (p, q))
    before = flink.snapshot(p[:-2])

    empty = converge(module, flink, [])
    assert empty["failed"] and not empty["changed"], empty
    assert "jobs is empty" in empty["msg"] and p in empty["msg"] and q in empty["msg"]
    assert "nothing was changed" in empty["msg"]

    truncated = converge(module, flink, [declared(flink, r)])
    assert truncated["failed"] and not truncated["changed"], truncated
    assert "more than max_prune (1)" in truncated["msg"]
    assert p in truncated["msg"] and q in truncated["msg"]
    assert {n: e["action"] for n, e in plan_of(truncated, [p, q, r]).items()} == {
        p: "prune", q: "prune", r: "start"}
    assert flink.snapshot(p[:-2]) == before
    assert dict((n, flink.the_running_job(n)["jid"]) for n in (p, q)) == running
    assert not flink.active(r)

    # Too few slots for the target set: refused before anything changes as well.
    crowded = converge(module, flink, [declared(flink, p), declared(flink, q),
                                       declared(flink, r, parallelism=64)])
    assert crowded["failed"] and "task slots" in crowded["msg"], crowded
    assert flink.snapshot(p[:-2]) == before

    # With max_prune raised, the prunes go ahead (with savepoints) and r starts.
    pruned = converge(module, flink, [declared(flink, r)], max_prune=2)
    assert pruned["changed"] and not pruned.get("failed"), pruned
    for name in (p, q):
        assert flink.state(running[name]) == "FINISHED"
        assert outcome_of(pruned, name)["savepoint"]
    assert flink.the_running_job(r)


def test_a_failed_upgrade_stops_the_rest_or_lets_the_others_go_on(flink, module, names):
    x, y, z, w = names("x", "y", "z", "w")
    assert not converge(module, flink, [declared(flink, n) for n in (x, y, z)]).get("failed")
    running = dict((n, flink.the_running_job(n)["jid"]) for n in (x, y, z))
    flink.wait_counts(x, "v1", minimum=2)
    # x's new version cannot restore x's state (Flink refuses it at submit; the pre-check is off
    # so that the plan lets it through): it is rolled back. y is upgraded, w added, z unchanged.
    changed_file = [declared(flink, x, jar="stateful-incompatible", state_check="off"),
                    declared(flink, y, jar="stateful-v2"), declared(flink, z), declared(flink, w)]

    stopped = converge(module, flink, changed_file)
    assert stopped["failed"], stopped
    assert stopped["msg"].startswith("job %s (upgrade) failed: " % x), stopped["msg"]
    assert "rolled back" in stopped["msg"]
    assert "Not attempted (failure_policy: stop): %s, %s" % (y, w) in stopped["msg"]
    outcome = outcome_of(stopped, x)
    assert outcome["failed"] and outcome["rolled_back"], outcome
    assert outcome_of(stopped, y)["skipped"] and outcome_of(stopped, w)["skipped"]
    rolled_back = flink.the_running_job(x)["jid"]
    assert rolled_back == outcome["job_id"] != running[x]
    assert flink.spec_fingerprint(rolled_back) == flink.spec_fingerprint(running[x])
    assert flink.the_running_job(y)["jid"] == running[y]  # untouched
    assert not flink.active(w)

    went_on = converge(module, flink, changed_file, failure_policy="continue")
    assert went_on["failed"] and went_on["msg"].startswith("job %s (upgrade) failed: " % x), went_on
    assert "Not attempted" not in went_on["msg"]
    assert outcome_of(went_on, x)["rolled_back"]
    assert outcome_of(went_on, y)["action"] == "upgraded"
    assert outcome_of(went_on, w)["action"] == "started"
    assert "1 upgraded, 1 started" in went_on["summary"] and "1 failed (%s)" % x in went_on["summary"]
    assert flink.the_running_job(y)["jid"] == outcome_of(went_on, y)["job_id"] != running[y]
    assert flink.the_running_job(w)["jid"] == outcome_of(went_on, w)["job_id"]
    assert flink.the_running_job(z)["jid"] == running[z]


def test_a_job_started_by_hand_is_adopted_by_name_without_a_restart(flink, module, names):
    same, other = names("same", "other")
    hand = dict((name, start_by_hand(flink, name)) for name in (same, other))
    for name in (same, other):
        flink.wait_counts(name, "v1", minimum=1)
    started_at = flink.the_running_job(same)["start-time"]
    cluster_file = [declared(flink, same), declared(flink, other, parallelism=2)]

    planned = converge(module, flink, cluster_file, check=True, adopt=[same, other])
    assert not planned.get("failed"), planned
    assert plan_of(planned, [same])[same]["action"] == "adopt"
    assert flink.spec_fingerprint(hand[same]) is None  # check mode recorded nothing

    adopted = converge(module, flink, [declared(flink, same)], adopt=[same])
    assert adopted["changed"] and not adopted.get("failed"), adopted
    assert outcome_of(adopted, same)["action"] == "adopted"
    assert "1 adopted" in adopted["summary"]
    job = flink.the_running_job(same)
    assert (job["jid"], job["start-time"]) == (hand[same], started_at)  # not restarted
    assert flink.spec_fingerprint(hand[same])  # recorded as running the declared spec
    # Managed from now on: the same file is a no-op without adopt.
    again = converge(module, flink, [declared(flink, same)])
    assert not again["changed"] and plan_of(again, [same])[same]["action"] == "unchanged", again

    # A job whose graph differs from the declared program's (parallelism 1 against 2) would be
    # upgraded, and the plan says why (the JAR is uploaded now, so check mode compares).
    planned = converge(module, flink, [declared(flink, same), declared(flink, other, parallelism=2)],
                       check=True, adopt=[other])
    entry = plan_of(planned, [other])[other]
    assert entry["action"] == "upgrade", entry
    assert "its job graph differs" in entry["differences"][0]
    assert any("parallelism: 1 -> 2" in text for text in entry["differences"][1:])
    assert flink.the_running_job(other)["jid"] == hand[other]


def test_the_converge_playbook_plans_then_applies_a_cluster_file(flink, names, tmp_path):
    (job,) = names("pb")
    playbook = os.path.join(collection_root(), "ansible_collections", "flinkops", "flink",
                            "playbooks", "converge.yml")
    cluster_file = {"flink_jobs": [declared(flink, job)], "flink_max_prune": 0}
    env = {"FLINK_URL": flink.url}
    planned = run_playbook(playbook, cluster_file, tmp_path, "--check", "--diff", env=env)
    assert planned.rc == 0, planned.output[-3000:]
    assert "start %s" % job in planned.output  # the plan, as --diff prints it
    assert planned.stats["flink_converge_summary"].startswith("1 to start"), planned.stats
    assert not flink.active(job)

    applied = run_playbook(playbook, cluster_file, tmp_path, env=env)
    assert applied.rc == 0, applied.output[-3000:]
    assert applied.stats["flink_converge_summary"].startswith("1 started"), applied.stats
    assert [entry["action"] for entry in applied.stats["flink_converge_plan"]
            if entry["name"] == job] == ["start"]
    assert flink.the_running_job(job)


class DuplicateWatch(threading.Thread):
    """Polls /jobs/overview until stopped: every moment two jobs of one of ``names`` were active."""

    def __init__(self, flink, names):
        super().__init__(daemon=True)
        self.flink, self.names, self.seen = flink, names, []
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            jobs = self.flink.get("/jobs/overview")["jobs"]
            for name in self.names:
                active = [job["jid"] for job in jobs if job["name"] == name and job["state"] in ACTIVE]
                if len(active) > 1:
                    self.seen.append((name, active))
            self.halt.wait(0.1)

    def stop(self):
        self.halt.set()
        self.join(30)
        return self.seen


def overlapping_converges(flink, cluster_file, labels):
    """Two converges of ``cluster_file`` that surely overlap: the first is held at its first stop
    (a proxy stalls it, its claim held) while the second starts, plans and finds it at work."""
    with FaultProxy(flink.url) as proxy:
        proxy.add("POST", r"/jobs/[^/]+/stop", "stall:12", times=1)
        first = ModuleRun(dict(url=proxy.url, jobs=cluster_file), labels[0], module="flink_jobs")
        deadline = time.time() + 120
        while not any(method == "POST" and "/stop" in path for method, path in proxy.seen):
            assert time.time() < deadline and first.proc.poll() is None, first.result()
            time.sleep(0.1)
        second = ModuleRun(dict(url=flink.url, jobs=cluster_file), labels[1], module="flink_jobs")
        first.result()  # the proxy serves the first run to its end
    return [first, second]


def test_two_converges_of_one_cluster_at_once_take_turns(flink, names):
    x, y = names("x", "y")
    rounds = [
        [declared(flink, x), declared(flink, y)],  # both start the two jobs from empty
        [declared(flink, x, jar="stateful-v2"), declared(flink, y)],  # both upgrade x
        [declared(flink, x, jar="stateful-v2"), declared(flink, y, parallelism=2)],  # both upgrade y
    ]
    turns = 0
    for number, cluster_file in enumerate(rounds):
        watch = DuplicateWatch(flink, [x, y])
        watch.start()
        labels = ["converge-%d-a" % number, "converge-%d-b" % number]
        if number < len(rounds) - 1:
            runs = [ModuleRun(dict(url=flink.url, jobs=cluster_file), label, module="flink_jobs")
                    for label in labels]
        else:  # on a loaded machine two racers may not overlap at all: this round they do
            runs = overlapping_converges(flink, cluster_file, labels)
        results = [run.result() for run in runs]
        assert watch.stop() == []  # never two jobs of one name
        assert not any(result.get("failed") for result in results), [(r.get("msg"), r.get("error")) for r in results]
        # One carried the file out; the other found it done, after waiting for it when its
        # own first plan had changes (and then it says whom it waited for).
        assert sorted(bool(result["changed"]) for result in results) == [False, True], results
        done, other = sorted(results, key=lambda result: not result["changed"])
        assert all(p["action"] == "unchanged" for p in plan_of(other, [x, y]).values()), other
        waited = [w for w in warnings_of(other) if "waited for another converge" in w]
        if waited:
            turns += 1
            assert "awx job %s" % done["_label"] in waited[0], waited
        for name in (x, y):
            assert flink.the_running_job(name)["jid"] == outcome_of(done, name)["job_id"]
    # At least the overlapping round: its second converge found the first at work and waited.
    assert turns, "no converge waited for the other in %d rounds" % len(rounds)
    flink.wait_counts(x, "v2", minimum=2)
    flink.assert_exactly_once(x)


def test_a_second_converge_that_may_not_wait_fails_naming_the_first(flink, module, names):
    (z,) = names("z")
    # The first converge is held at its first stop (the proxy stalls it); the second one,
    # with concurrent_wait_timeout 0, must fail at once naming it and changing nothing.
    assert not converge(module, flink, [declared(flink, z)]).get("failed")
    running = flink.the_running_job(z)["jid"]
    with FaultProxy(flink.url) as proxy:
        proxy.add("POST", r"/jobs/%s/stop" % running, "stall:8", times=1)
        first = ModuleRun(dict(url=proxy.url, jobs=[declared(flink, z, jar="stateful-v2")]),
                          "converge-first", module="flink_jobs")
        deadline = time.time() + 60
        while not any(method == "POST" and "/stop" in path for method, path in proxy.seen):
            assert time.time() < deadline and first.proc.poll() is None, first.result()
            time.sleep(0.1)
        second = converge(module, flink, [declared(flink, z, parallelism=2)], concurrent_wait_timeout=0)
        done = first.result()
    assert second["failed"] and not second["changed"], second
    assert "another converge of this cluster is in progress: awx job converge-first" in second["msg"]
    assert "nothing was changed" in second["msg"]
    assert not done.get("failed") and outcome_of(done, z)["action"] == "upgraded", done
    assert flink.the_running_job(z)["jid"] == outcome_of(done, z)["job_id"]
