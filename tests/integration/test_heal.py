# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Watch and heal (issue 27) against a real cluster: the heal playbook run by ansible-playbook,
and the self_heal rulebook run by ansible-rulebook (the event source polling the cluster).

The job's restart strategy is ``none`` (per job, through flink_job's configuration), so a lost
TaskManager leaves it FAILED; its checkpoints are retained, so the heal starts it from the
latest completed one."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml

from flinkops_devkit.faultproxy import FaultProxy
from flinkops_devkit.modules import collection_root
from flinkops_devkit.playbooks import ansible_env, run_playbook
from flinkops_devkit.rest import RestError

# A submission (the fault proxy can hold it).
RUN = r"^/jars/[^/]+/run$"
FAILS_ONCE_LOST = {"restart-strategy.type": "none",
                   "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION"}


def collection_file(*parts):
    return os.path.join(collection_root(), "ansible_collections", "flinkops", "flink", *parts)


def heal(name, url, tmp_path, **variables):
    return run_playbook(collection_file("playbooks", "heal.yml"),
                        dict(flink_job_name=name, flink_url=url, **variables), tmp_path, timeout=600)


def wait_state(flink, job_id, states, timeout=120):
    deadline = time.time() + timeout
    while flink.state(job_id) not in states:
        assert time.time() < deadline, "job %s is %s, not %s" % (job_id, flink.state(job_id), states)
        time.sleep(0.5)


def wait_one_running(flink, name, timeout=180):
    deadline = time.time() + timeout
    while True:
        active = flink.active(name)
        assert len(active) <= 1, "two active jobs of %s: %s" % (name, active)
        if active and active[0]["state"] == "RUNNING" and \
                active[0]["tasks"]["running"] == active[0]["tasks"]["total"]:
            return active[0]
        assert time.time() < deadline, "no running job %s: %s" % (name, flink.jobs_named(name))
        time.sleep(0.5)


def assert_state_continued(flink, tag, healed_job_before_counts):
    """Per key: no count missing (no state lost, none started from empty), and after the heal
    the counts went on past where they were before the failure. Counts between the checkpoint
    and the failure are printed again (the stdout sink is not transactional), so a repeat is
    allowed there and only there: the state itself counted every record once."""
    seen = {}
    for (_version, key), counts in flink.counts(tag).items():
        seen.setdefault(key, []).extend(counts)
    assert seen
    for key, counts in seen.items():
        expected = list(range(50, max(counts) + 1, 50))
        assert sorted(set(counts)) == expected, "key %s: counts missing (state lost): %s" % (
            key, sorted(set(expected) - set(counts))[:5])
        before = healed_job_before_counts.get(key, [])
        assert before and max(counts) > max(before), "key %s: no count after the heal" % key
        repeated = sorted(set(c for c in counts if counts.count(c) > 1))
        assert all(c <= max(before) for c in repeated), \
            "key %s: counts repeated after the failure point: %s" % (key, repeated)
        assert counts.count(50) == 1, "key %s: counted from empty state again" % key


def counts_by_key(flink, tag):
    seen = {}
    for (_version, key), counts in flink.counts(tag).items():
        seen.setdefault(key, []).extend(counts)
    return seen


def operations(module, url, name):
    return module("flink_job_info", dict(url=url, name=name))["operations"]


def test_heal_playbook_brings_a_failed_job_back_from_its_latest_checkpoint(
        flink, flink_cluster, job_params, module, tmp_path):
    params = job_params(configuration=FAILS_ONCE_LOST)
    name = params["name"]
    started = module("flink_job", params)
    assert started["action"] == "started", started
    flink.wait_counts(name, "v1", minimum=2)
    checkpoint = flink.wait_checkpoint(started["job_id"], after_ms=time.time() * 1000)

    flink_cluster.restart_taskmanager()
    wait_state(flink, started["job_id"], ("FAILED",))
    before = counts_by_key(flink, name)

    healed = heal(name, flink.url, tmp_path, flink_heal_max=2, flink_heal_window=3600)
    assert healed.rc == 0, healed.output[-3000:]
    result = healed.stats["flink_heal_result"]
    assert result["outcome"] == "healed", result
    job = wait_one_running(flink, name)
    assert job["jid"] == result["job_id"] != started["job_id"]
    # From the failed run's latest completed checkpoint (or a newer one), never from empty state.
    assert "/chk-" in result["restored_from"], result
    assert int(result["restored_from"].rstrip("/").rsplit("chk-", 1)[1]) >= checkpoint["id"]
    assert flink.wait_restored(job["jid"])["external_path"] == result["restored_from"]
    # The same version: the spec fingerprint of the healed job is the failed one's.
    assert flink.spec_fingerprint(started["job_id"]) is not None
    assert flink.spec_fingerprint(job["jid"]) == flink.spec_fingerprint(started["job_id"])
    log = operations(module, flink.url, name)
    assert log[0]["action"] == "started" and "flinkops.flink.heal" in log[0]["actor"], log[0]
    assert log[0]["savepoint"] == result["restored_from"]

    flink.wait_counts(name, "v1", minimum=max(len(c) for c in before.values()) + 2, timeout=90)
    assert_state_continued(flink, name, before)

    again = heal(name, flink.url, tmp_path)
    assert again.rc == 0, again.output[-3000:]
    assert again.stats["flink_heal_result"]["outcome"] == "running"
    assert flink.the_running_job(name)["jid"] == job["jid"]


def test_a_heal_while_a_deployment_is_under_way_never_disturbs_it(flink, job_params, module, tmp_path):
    """A deployment's stop is done (the old job FINISHED) and its submit not yet made: to the heal
    the job looks lost and has a restore point (the savepoint the old job started from, older
    than the stop's). The heal must not start it from there, nor take the deployment's place:
    it refuses, and the deployment goes on and carries the state once. (Found here: the heal
    started the old version from that older savepoint, and the deployment's submit was fenced.)"""
    params = job_params()
    name = params["name"]
    first = module("flink_job", params)
    assert first["action"] == "started", first
    flink.wait_counts(name, "v1", minimum=2)
    # A restore point for the heal to find: the running job started from a savepoint.
    second = module("flink_job", dict(params, configuration={"pipeline.object-reuse": "true"}))
    assert second["action"] == "upgraded" and second["restored_from"], second
    flink.wait_counts(name, "v1", minimum=3)
    heals = []
    with FaultProxy(flink.url) as proxy:
        # The heal runs while the deployment's submit is held: its stop is done, nothing new runs.
        proxy.add("POST", RUN, "stall:0", 1, hook=lambda: heals.append(heal(name, flink.url, tmp_path)))
        deployed = module("flink_job", dict(params, url=proxy.url, jar=flink.jobs["stateful-v2"],
                                            request_timeout=600))
    assert len(heals) == 1, heals
    healed = heals[0]
    assert healed.rc != 0, healed.output[-3000:]
    assert "its newest run %s is FINISHED (ended by a stop or a cancel, not by a failure)" % second["job_id"] \
        in healed.output, healed.output[-3000:]
    assert deployed["action"] == "upgraded" and deployed["previous_job_id"] == second["job_id"], deployed
    # The heal started nothing: every run of the name is one of the deployments'.
    assert {job["jid"] for job in flink.jobs_named(name)} == {
        first["job_id"], second["job_id"], deployed["job_id"]}, flink.jobs_named(name)
    assert wait_one_running(flink, name)["jid"] == deployed["job_id"]
    flink.wait_counts(name, "v2", minimum=2)
    flink.assert_exactly_once(name)

    # Once the deployment ended, a heal finds its version running and leaves it.
    again = heal(name, flink.url, tmp_path)
    assert again.rc == 0, again.output[-3000:]
    assert again.stats["flink_heal_result"]["outcome"] == "running", again.stats
    assert flink.the_running_job(name)["jid"] == deployed["job_id"]


def a_version_failing_on_every_start(flink, job_params, module):
    """A job with a checkpoint, then a new version that fails on its first record, not waited
    for (so it is logged as upgraded), until Flink gives it up: (params, started, broken)."""
    params = job_params(configuration=FAILS_ONCE_LOST)
    started = module("flink_job", params)
    assert started["action"] == "started", started
    flink.wait_checkpoint(started["job_id"])
    broken = module("flink_job", dict(params, args=params["args"] + ["--variant", "fail-on-start"],
                                      wait=False))
    assert broken["action"] == "upgraded", broken
    wait_state(flink, broken["job_id"], ("FAILED",))
    return params, started, broken


def test_a_job_failing_on_every_start_is_healed_at_most_max_times(
        flink, job_params, module, tmp_path):
    params, started, broken = a_version_failing_on_every_start(flink, job_params, module)
    name = params["name"]
    savepoint = broken["savepoint"]

    outcomes = []
    for _attempt in range(2):
        run = heal(name, flink.url, tmp_path, flink_heal_max=2, flink_heal_window=3600)
        assert run.rc != 0, run.output[-3000:]
        assert "fail-on-start variant fails on purpose" in run.output, run.output[-3000:]
        assert len(flink.active(name)) <= 1
        outcomes.append(operations(module, flink.url, name)[0])
    assert [op["action"] for op in outcomes] == ["failed", "failed"], outcomes
    assert all("flinkops.flink.heal" in op["actor"] for op in outcomes)
    runs = flink.jobs_named(name)
    # Each heal started the failing version from the newest state: the upgrade's savepoint, or a
    # checkpoint an earlier heal's run completed before it failed (a slow machine lets one complete
    # before the first record reaches the failing operator). Never from empty state.
    heal_runs = sorted((job for job in runs if job["jid"] not in (started["job_id"], broken["job_id"])),
                       key=lambda job: job["start-time"])
    assert len(heal_runs) == 2, runs
    for index, job in enumerate(heal_runs):
        restored = flink.wait_restored(job["jid"])["external_path"].rstrip("/")
        earlier_checkpoints = ["/checkpoints/%s/chk-" % earlier["jid"] for earlier in heal_runs[:index]]
        assert restored == savepoint.rstrip("/") or any(part in restored for part in earlier_checkpoints), \
            (job["jid"], restored, savepoint)

    refused = heal(name, flink.url, tmp_path, flink_heal_max=2, flink_heal_window=3600)
    assert refused.rc != 0
    assert "crash loop is reported, not fed" in refused.output, refused.output[-3000:]
    assert "healed 2 times" in refused.output
    assert len(flink.jobs_named(name)) == len(runs), "the refused heal submitted a job"
    assert flink.active(name) == []


# --------------------------------------------------------------------------- the rulebook

def ansible_rulebook():
    found = os.path.join(os.path.dirname(sys.executable), "ansible-rulebook")
    return found if os.path.exists(found) else shutil.which("ansible-rulebook")


def java_home():
    if os.environ.get("JAVA_HOME"):
        return os.environ["JAVA_HOME"]
    for candidate in ("/usr/lib/jvm/java-17-openjdk-amd64", "/usr/lib/jvm/java-1.17.0-openjdk-amd64"):
        if os.path.isdir(candidate):
            return candidate
    return None


def start_rulebook(flink, name, tmp_path, heal_max=2, env=None):
    """ansible-rulebook running the shipped self_heal rulebook against ``flink``, watching ``name``,
    in a session of its own (its playbook runs are its children); returns (process, log path)."""
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    variables = tmp_path / "rulebook-vars.yml"
    variables.write_text(yaml.safe_dump({"flink_jobs": [name], "flink_poll_interval": 1,
                                         "flink_heal_max": heal_max, "flink_heal_window": 3600}))
    # ansible-rulebook does not put the collections directory on Python's path (the guide says so).
    env = ansible_env({"FLINK_URL": flink.url, "JAVA_HOME": java_home() or "", "PYTHONPATH": collection_root(),
                       "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
                       **(env or {})})
    log = tmp_path / "rulebook.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [ansible_rulebook(), "--rulebook", collection_file("extensions", "eda", "rulebooks", "self_heal.yml"),
             "-i", str(inventory), "--vars", str(variables), "-v"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=str(tmp_path), start_new_session=True)
    return proc, log


def stop_rulebook(proc):
    """Stop ansible-rulebook by its own pid (its session: the playbooks it started too)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@pytest.mark.skipif(ansible_rulebook() is None, reason="ansible-rulebook is not installed (requirements/test.txt)")
def test_self_heal_rulebook_heals_a_failed_managed_job(flink, flink_cluster, job_params, module, tmp_path):
    params = job_params(configuration=FAILS_ONCE_LOST)
    name = params["name"]
    started = module("flink_job", params)
    assert started["action"] == "started", started
    flink.wait_counts(name, "v1", minimum=2)
    flink.wait_checkpoint(started["job_id"], after_ms=time.time() * 1000)

    proc, log = start_rulebook(flink, name, tmp_path)
    try:
        # The source's first poll sees the job running; then its TaskManager is lost.
        deadline = time.time() + 120
        while "flinkops.flink.flink_jobs" not in log.read_text() and time.time() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            time.sleep(1)
        time.sleep(5)
        before_failure = counts_by_key(flink, name)
        assert before_failure
        flink_cluster.restart_taskmanager()
        wait_state(flink, started["job_id"], ("FAILED",))
        before = counts_by_key(flink, name)
        healed = None
        deadline = time.time() + 300
        while healed is None:
            assert proc.poll() is None, log.read_text()[-5000:]
            assert len(flink.active(name)) <= 1
            running = [job for job in flink.active(name) if job["jid"] != started["job_id"]]
            if running and running[0]["state"] == "RUNNING":
                healed = running[0]
            assert time.time() < deadline, log.read_text()[-5000:]
            time.sleep(1)
        job = wait_one_running(flink, name)
        assert "/chk-" in flink.wait_restored(job["jid"])["external_path"]
        # The heal's log entry is written once flink_job ends (after its health window).
        deadline = time.time() + 120
        while True:
            ops = operations(module, flink.url, name)
            if ops[0].get("job_id") == job["jid"] or time.time() > deadline:
                break
            time.sleep(2)
        assert ops[0]["action"] == "started" and "flinkops.flink.heal" in ops[0]["actor"], ops[0]
        assert ops[0]["job_id"] == job["jid"]
        flink.wait_counts(name, "v1", minimum=max(len(c) for c in before.values()) + 2, timeout=90)
        assert_state_continued(flink, name, before)
        # No second heal of the same failure: the job stays the one healed.
        time.sleep(5)
        assert flink.the_running_job(name)["jid"] == job["jid"]
        # The playbook reports once the health window passed.
        deadline = time.time() + 120
        while '"outcome": "healed"' not in log.read_text():
            assert time.time() < deadline, log.read_text()[-5000:]
            time.sleep(2)
        text = log.read_text()
        # The heal playbook ran once, for this one failure, and healed it.
        assert text.count("PLAY [Heal a managed Flink job]") == 1, text[-5000:]
    finally:
        stop_rulebook(proc)


@pytest.mark.skipif(ansible_rulebook() is None, reason="ansible-rulebook is not installed (requirements/test.txt)")
def test_self_heal_rulebook_stops_healing_a_job_that_fails_on_every_start(flink, job_params, module, tmp_path):
    params, _started, _broken = a_version_failing_on_every_start(flink, job_params, module)
    name = params["name"]

    proc, log = start_rulebook(flink, name, tmp_path, heal_max=2)
    try:
        # Two heals (each fails), then a third event whose heal is refused as a crash loop.
        deadline = time.time() + 400
        while "crash loop is reported, not fed" not in log.read_text():
            assert proc.poll() is None, log.read_text()[-5000:]
            assert len(flink.active(name)) <= 1, flink.active(name)
            assert time.time() < deadline, log.read_text()[-5000:]
            time.sleep(1)
        runs = len(flink.jobs_named(name))
        # A few more polls: no further heal, no new run.
        time.sleep(8)
        text = log.read_text()
        # (ansible-rulebook logs a failed playbook's output twice: count distinct facts.)
        # (flink_job says "went FAILING instead of running" or "is not healthy: state FAILING".)
        healed_runs = set(re.findall(r"Task failed: Module failed: job ([0-9a-f]{32}) ", text))
        assert len(healed_runs) == 2, text[-5000:]
        assert len(flink.jobs_named(name)) == runs == 4, flink.jobs_named(name)
        assert flink.active(name) == []
        healer = [op for op in operations(module, flink.url, name) if "flinkops.flink.heal" in (op.get("actor") or "")]
        assert [op["action"] for op in healer] == ["failed", "failed"], healer
    finally:
        stop_rulebook(proc)


# --------------------------------------------------------------------------- a lost JobManager

def restored_path(flink, job_id, timeout=60):
    """What the job was restored from; a JobManager that has just started answers 500 for a
    moment ("not available while the JobManager is initializing")."""
    deadline = time.time() + timeout
    while True:
        try:
            return flink.wait_restored(job_id)["external_path"]
        except RestError:
            if time.time() > deadline:
                raise
            time.sleep(1)


def started_then_upgraded(flink, module, params):
    """v1 started and counting, then upgraded to v2 (with a savepoint) and counting: the v2
    module result."""
    assert module("flink_job", params)["action"] == "started"
    flink.wait_counts(params["name"], "v1", minimum=2)
    upgraded = module("flink_job", dict(params, jar=flink.jobs["stateful-v2"]))
    assert upgraded["action"] == "upgraded" and upgraded["savepoint"], upgraded
    flink.wait_counts(params["name"], "v2", minimum=2)
    return upgraded


def restart_jobmanager_empty(cluster):
    """The JobManager killed and started again with an empty upload directory and, without HA,
    no job: as a pod restarted on a new node. The TaskManager stays and registers again."""
    cluster.kill_jobmanager()
    uploads = cluster.base_dir / "uploads"
    shutil.rmtree(uploads, ignore_errors=True)
    uploads.mkdir()
    cluster._daemon("jobmanager.sh", "start")  # pylint: disable=protected-access
    cluster.wait_ready()


@pytest.mark.skipif(ansible_rulebook() is None, reason="ansible-rulebook is not installed (requirements/test.txt)")
def test_a_job_lost_by_a_jobmanager_restart_is_healed_from_its_savepoint_in_the_store(
        flink, flink_cluster, job_params, module, state_store_of, tmp_path):
    store = state_store_of("zookeeper")
    params = job_params(state_store=store)
    name = params["name"]
    upgraded = started_then_upgraded(flink, module, params)

    restart_jobmanager_empty(flink_cluster)
    assert flink.jobs_named(name) == [] and flink.jar_names() == []
    before = counts_by_key(flink, name)

    # Without the JAR the heal is refused, naming it, and submits nothing.
    refused = heal(name, flink.url, tmp_path, flink_state_store=store)
    assert refused.rc != 0, refused.output[-3000:]
    assert "Flink lists no upload of its JAR" in refused.output, refused.output[-3000:]
    assert os.path.basename(flink.jobs["stateful-v2"]).rsplit(".", 1)[0] in refused.output
    assert flink.jobs_named(name) == []

    # The rulebook, given the directory of the job's JARs (v1 and v2 among others): the source
    # reports the managed job missing, the heal finds v2 by its recorded content.
    proc, log = start_rulebook(flink, name, tmp_path, env={
        "FLINK_STATE_STORE": store, "FLINK_HEAL_JAR": os.path.dirname(flink.jobs["stateful-v2"])})
    try:
        job = None
        deadline = time.time() + 300
        while job is None:
            assert proc.poll() is None, log.read_text()[-5000:]
            assert len(flink.active(name)) <= 1, flink.active(name)
            active = flink.active(name)
            if active and active[0]["state"] == "RUNNING":
                job = wait_one_running(flink, name)
            assert time.time() < deadline, log.read_text()[-5000:]
            time.sleep(1)
        assert restored_path(flink, job["jid"]).rstrip("/") == upgraded["savepoint"].rstrip("/")
        deadline = time.time() + 120
        while True:
            ops = module("flink_job_info", dict(url=flink.url, name=name, state_store=store))["operations"]
            if ops[0].get("job_id") == job["jid"] or time.time() > deadline:
                break
            time.sleep(2)
        assert ops[0]["action"] == "started" and "flinkops.flink.heal" in ops[0]["actor"], ops[0]
        # The recorded version: the upgrade's spec, its JAR found by content among the others.
        assert ops[0]["fingerprint"] == ops[1]["fingerprint"] and ops[1]["action"] == "upgraded", ops[:2]
        # From the upgrade's savepoint: the counts since then are counted again, then go past.
        deadline = time.time() + 120
        while not all(max(counts_by_key(flink, name)[key]) > max(counts) for key, counts in before.items()):
            assert time.time() < deadline, "the healed job does not count past the loss"
            time.sleep(1)
        assert_state_continued(flink, name, before)
        text = log.read_text()
        assert text.count("PLAY [Heal a managed Flink job]") == 1, text[-5000:]
        assert flink.the_running_job(name)["jid"] == job["jid"]
    finally:
        stop_rulebook(proc)
