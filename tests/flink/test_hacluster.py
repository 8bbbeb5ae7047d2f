# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Prove the ZooKeeper-HA harness (flinkops_devkit.hacluster) on real Flink, and what HA means for us.

One HaCluster per version: 2.3 by default; FLINKOPS_TEST_FLINK_VERSIONS=2.3,1.20 adds 1.20.
The tests build on each other in file order (one cluster per module and version):
both JobManagers serve the same TaskManager; ``GET /jars`` differs by which JobManager answers;
a job submitted through the standby is listed by the leader; a SIGKILLed leader, restarted with
an empty upload dir, loses its JARs while the running job survives with its id and state.

Run: python -m pytest tests/flink/test_hacluster.py -q -s
"""

from __future__ import annotations

import os
import re
import time
import uuid

import pytest

from flinkops_devkit.flinkctl import build_jobs, rest, upload_jar
from flinkops_devkit.hacluster import HaCluster
from flinkops_devkit.pytest_plugin import ENV_VERSIONS

# One worker for every HA-cluster and state-store suite: their clusters and stores are started once.
pytestmark = pytest.mark.xdist_group("state-store")

COUNT_RE = re.compile(r"^FLINKOPS COUNT key=(\d+) count=(\d+) offset=(\d+) version=(\S+) tag=(.*)$")


def ha_versions() -> list:
    raw = os.environ.get(ENV_VERSIONS) or "2.3"
    return [v.strip() for v in raw.split(",") if v.strip()]


@pytest.fixture(scope="module", params=ha_versions(), ids=lambda v: f"flink-{v}")
def ha(request):
    jobs = build_jobs(request.param)
    cluster = HaCluster(request.param, slots=4)
    t0 = time.time()
    cluster.start()
    cluster.jobs = jobs
    print(f"\n[ha {cluster.version}] HA cluster (ZooKeeper + 2 JobManagers + 1 TaskManager) started in "
          f"{time.time() - t0:.1f}s (ZooKeeper {cluster.zk.start_seconds:.1f}s); leader JM "
          f"{cluster.leader_index()}; {cluster.urls}")
    yield cluster
    cluster.stop()


def get(url: str, path: str, timeout: float = 10):
    st, body = rest(url, "GET", path, timeout=timeout)
    assert st == 200, f"GET {url}{path}: {st} {body}"
    return body


def jar_names(url: str) -> list:
    return sorted(f["name"] for f in get(url, "/jars")["files"])


def find_job(url: str, job_id: str) -> dict | None:
    st, ov = rest(url, "GET", "/jobs/overview", timeout=10)
    if st != 200:
        return None
    return next((j for j in ov["jobs"] if j["jid"] == job_id), None)


def wait_all_running(url: str, job_id: str, timeout: float) -> dict:
    deadline = time.time() + timeout
    job = None
    while time.time() < deadline:
        try:
            job = find_job(url, job_id)
        except OSError as e:  # the JobManager may be between leaders
            job = repr(e)
        if isinstance(job, dict):
            t = job["tasks"]
            if job["state"] == "RUNNING" and t["total"] > 0 and t["running"] == t["total"]:
                return job
        time.sleep(0.25)
    pytest.fail(f"job {job_id} not all-tasks-RUNNING through {url} in {timeout}s: {job}")


def standby_and_leader(ha) -> tuple:
    leader = ha.leader_index()
    assert leader in (0, 1), leader
    return 1 - leader, leader


def counts_after(ha, offset: int, tag: str) -> list:
    out = []
    for line in ha.taskmanager_stdout()[offset:].splitlines():
        m = COUNT_RE.match(line)
        if m and m.group(5) == tag:
            out.append((int(m.group(1)), int(m.group(2))))
    return out


# ----------------------------------------------------------------------------- tests


def test_both_jobmanagers_serve_the_same_taskmanager(ha):
    overviews = [get(u, "/overview") for u in ha.urls]
    for ov in overviews:
        assert ov["taskmanagers"] == 1, ov
        assert ov["slots-total"] == 4, ov
        assert ov["flink-version"] == ha.version
    tms = [sorted(t["id"] for t in get(u, "/taskmanagers")["taskmanagers"]) for u in ha.urls]
    assert tms[0] == tms[1] and len(tms[0]) == 1, tms
    # the leader in ZooKeeper agrees with the JobManager logs
    assert ha.leader_index("zookeeper") == ha.leader_index("log")


@pytest.fixture(scope="module")
def uploaded(ha) -> dict:
    """stateful-v1 uploaded through the standby (a fixture, not a test's side effect: pytest-xdist
    may run this file's tests in another order, or on a new cluster)."""
    b, a = standby_and_leader(ha)
    before = [jar_names(ha.url_of(a)), jar_names(ha.url_of(b))]
    st, up = upload_jar(ha.url_of(b), ha.jobs["stateful-v1"])
    assert st == 200 and up.get("status") == "success", up
    return {"jar_id": up["filename"].rsplit("/", 1)[-1], "jar_on": b, "before": before}


@pytest.fixture(scope="module")
def standby_job(ha, uploaded) -> dict:
    """A counting job submitted through the JobManager that holds the JAR, with a job id we chose."""
    b = uploaded["jar_on"]
    tag = f"ha-{uuid.uuid4().hex[:6]}"
    job_id = uuid.uuid4().hex
    st, run = rest(ha.url_of(b), "POST", f"/jars/{uploaded['jar_id']}/run",
                   {"entryClass": ha.jobs["entry_class"], "jobId": job_id,
                    "programArgsList": ["--name", tag, "--rate", "200", "--keys", "2", "--heartbeat-every", "1000",
                                        "--tag", tag, "--checkpoint-interval", "1000"]}, timeout=120)
    assert st == 200, (st, run)
    assert run["jobid"] == job_id
    wait_all_running(ha.url_of(b), job_id, 60)
    return {"job_id": job_id, "tag": tag, "via": b}


def test_jars_differ_per_jobmanager(ha, uploaded):
    b = uploaded["jar_on"]
    a = 1 - b
    assert uploaded["before"] == [[], []]
    assert jar_names(ha.url_of(b)) == ["stateful-v1.jar"]
    assert jar_names(ha.url_of(a)) == [], "the other JobManager does not see an upload"
    # and running the JAR through the JobManager that does not hold it fails
    st, body = rest(ha.url_of(a), "POST", f"/jars/{uploaded['jar_id']}/run",
                    {"entryClass": ha.jobs["entry_class"], "programArgsList": ["--name", "nope"]}, timeout=60)
    assert st >= 400, (st, body)


def test_job_submitted_through_standby_is_listed_by_leader(ha, standby_job):
    other = 1 - standby_job["via"]
    job = wait_all_running(ha.url_of(other), standby_job["job_id"], 10)
    assert job["name"] == standby_job["tag"]


def test_leader_failover_recovers_the_job_and_the_restarted_jobmanager_has_no_jars(ha, uploaded, standby_job):
    job_id, tag = standby_job["job_id"], standby_job["tag"]
    leader = ha.leader_index()
    survivor = 1 - leader
    # some counting done (COUNT lines every 50 per key), then checkpoints that cover it
    deadline = time.time() + 60
    before = []
    while time.time() < deadline and max([c for _k, c in before] or [0]) < 150:
        before = counts_after(ha, 0, tag)
        time.sleep(0.5)
    max_before = max([c for _k, c in before] or [0])
    assert max_before >= 150, f"job {job_id} counts too slowly: {before[-4:]}"
    completed = None
    deadline = time.time() + 60
    while time.time() < deadline:
        st, cp = rest(ha.url_of(survivor), "GET", f"/jobs/{job_id}/checkpoints", timeout=10)
        n = (cp.get("counts") or {}).get("completed", 0) if st == 200 else 0
        completed = n if completed is None else completed
        if n >= completed + 2:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"no new completed checkpoint of {job_id}: {cp}")

    t_kill = time.time()
    ha.kill_jobmanager_of(leader)
    t_killed = time.time()
    new_leader = ha.wait_leader(timeout=120, not_index=leader)
    t_leader = time.time()
    assert new_leader == survivor
    stdout_offset = len(ha.taskmanager_stdout())
    wait_all_running(ha.url_of(survivor), job_id, 120)
    t_running = time.time()
    print(f"\n[ha {ha.version}] failover: leader JM {leader} SIGKILLed ({t_killed - t_kill:.1f}s); "
          f"JM {survivor} leader after {t_leader - t_kill:.1f}s; job {job_id} all tasks RUNNING again "
          f"after {t_running - t_kill:.1f}s (ZooKeeper session timeout {ha.zk_session_timeout_ms} ms)")

    t0 = time.time()
    ha.restart_jobmanager_of(leader, wipe_upload_dir=True)
    print(f"[ha {ha.version}] JM {leader} restarted with an empty upload dir in {time.time() - t0:.1f}s; "
          f"leader now JM {ha.leader_index()}")
    assert jar_names(ha.url_of(leader)) == [], "a restarted JobManager starts without JARs"
    for url in ha.urls:
        job = wait_all_running(url, job_id, 30)
        assert job["jid"] == job_id and job["name"] == tag
    assert ha.leader_index() == survivor, "the restarted JobManager comes back as a standby"
    # the survivor still holds the JAR only if it was the one it was uploaded to
    assert jar_names(ha.url_of(survivor)) == (["stateful-v1.jar"] if survivor == uploaded["jar_on"] else [])

    # state went on from the checkpoint: counting does not start from scratch after the recovery
    deadline = time.time() + 60
    after = []
    while time.time() < deadline and len(after) < 4:
        after = counts_after(ha, stdout_offset, tag)
        time.sleep(0.5)
    assert after, "no COUNT lines after the failover"
    assert min(c for _k, c in after) > 100, f"state reset after the failover (before: up to {max_before}): {after[:8]}"

    st, _answer = rest(ha.url_of(survivor), "PATCH", f"/jobs/{job_id}?mode=cancel", timeout=10)
    assert st in (200, 202)
