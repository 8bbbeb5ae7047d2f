"""Prove the real-Flink harness works: raw REST against real clusters, per configured version.

Run: python -m pytest tests/flink -q   (FLINKOPS_TEST_FLINK_VERSIONS=2.3,1.20 by default)
"""

from __future__ import annotations

import os
import re
import time

import pytest

requests = pytest.importorskip("requests")

TERMINAL = ("FINISHED", "CANCELED", "FAILED")
COUNT_RE = re.compile(r"^FLINKOPS COUNT key=(\d+) count=(\d+) offset=(\d+) version=(\S+) tag=(.*)$")
HB_RE = re.compile(r"^FLINKOPS HB offset=(\d+) ts=(\d+) version=(\S+) tag=(.*)$")


# ----------------------------------------------------------------------------- helpers


def upload(cluster, jar_key: str) -> str:
    path = cluster.jobs[jar_key]
    with open(path, "rb") as fh:
        r = requests.post(f"{cluster.url}/jars/upload",
                          files={"jarfile": (os.path.basename(path), fh, "application/x-java-archive")},
                          timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "success", body
    return body["filename"].rsplit("/", 1)[-1]  # jar id = <uuid>_<file name>


def run_body(cluster, args: list, **extra) -> dict:
    body = {"entryClass": cluster.entry_class, "programArgsList": args}
    body.update(extra)
    return body


def run(cluster, jar_id: str, args: list, **extra) -> requests.Response:
    return requests.post(f"{cluster.url}/jars/{jar_id}/run", json=run_body(cluster, args, **extra), timeout=120)


def job_overview(cluster, job_id: str) -> dict | None:
    r = requests.get(f"{cluster.url}/jobs/overview", timeout=10)
    r.raise_for_status()
    for job in r.json()["jobs"]:
        if job["jid"] == job_id:
            return job
    return None


def wait_all_running(cluster, job_id: str, timeout: float = 60) -> dict:
    deadline = time.time() + timeout
    job = None
    while time.time() < deadline:
        job = job_overview(cluster, job_id)
        if job:
            t = job["tasks"]
            if job["state"] == "RUNNING" and t["total"] > 0 and t["running"] == t["total"]:
                return job
            if job["state"] in TERMINAL:
                break
        time.sleep(0.25)
    pytest.fail(f"job {job_id} not all-tasks-RUNNING: {job}\n{cluster.log_tail(30)}")


def wait_state(cluster, job_id: str, states, timeout: float = 60) -> dict:
    deadline = time.time() + timeout
    job = None
    while time.time() < deadline:
        job = job_overview(cluster, job_id)
        if job and job["state"] in states:
            return job
        time.sleep(0.25)
    pytest.fail(f"job {job_id} never reached {states}: {job}")


def cancel(cluster, job_id: str) -> None:
    r = requests.patch(f"{cluster.url}/jobs/{job_id}", params={"mode": "cancel"}, timeout=10)
    assert r.status_code in (202, 200), r.text
    wait_state(cluster, job_id, ("CANCELED", "FAILED", "FINISHED"), timeout=30)


def output_lines(cluster, regex, tag: str, version: str | None = None) -> list:
    out = []
    for line in cluster.taskmanager_stdout().splitlines():
        m = regex.match(line)
        if m and m.group(m.lastindex) == tag and (version is None or m.group(m.lastindex - 1) == version):
            out.append(m)
    return out


def wait_counts(cluster, tag: str, version: str, minimum: int, timeout: float = 60) -> list:
    deadline = time.time() + timeout
    lines = []
    while time.time() < deadline:
        lines = output_lines(cluster, COUNT_RE, tag, version)
        if len(lines) >= minimum:
            return lines
        time.sleep(0.5)
    pytest.fail(f"only {len(lines)} COUNT lines for tag={tag!r} version={version}; stdout tail:\n"
                + "\n".join(cluster.taskmanager_stdout().splitlines()[-20:]))


def stop_with_savepoint(cluster, job_id: str, timeout: float = 90) -> str:
    r = requests.post(f"{cluster.url}/jobs/{job_id}/stop",
                      json={"targetDirectory": cluster.savepoint_dir.as_uri(), "drain": False}, timeout=30)
    assert r.status_code == 202, r.text
    request_id = r.json()["request-id"]
    deadline = time.time() + timeout
    while time.time() < deadline:
        s = requests.get(f"{cluster.url}/jobs/{job_id}/savepoints/{request_id}", timeout=10)
        assert s.status_code == 200, s.text
        body = s.json()
        if body["status"]["id"] == "COMPLETED":
            op = body.get("operation") or {}
            assert "failure-cause" not in op, op
            assert op.get("location"), body
            return op["location"]
        time.sleep(0.5)
    pytest.fail(f"stop-with-savepoint of {job_id} not completed in {timeout}s")


def error_text(resp) -> str:
    try:
        return "\n".join(resp.json().get("errors", []))
    except ValueError:
        return resp.text


# ----------------------------------------------------------------------------- tests


def test_cluster_overview(flink_cluster):
    ov = requests.get(f"{flink_cluster.url}/overview", timeout=10).json()
    assert ov["taskmanagers"] >= 1
    assert ov["slots-total"] >= 8
    assert ov["flink-version"] == flink_cluster.version
    cfg = requests.get(f"{flink_cluster.url}/config", timeout=10).json()
    assert cfg["flink-version"] == flink_cluster.version
    for key in ("stateful-v1", "stateful-v2", "stateful-incompatible"):
        assert os.path.isfile(flink_cluster.jobs[key])
    print(f"Flink {flink_cluster.version} started in {flink_cluster.start_seconds:.1f}s at {flink_cluster.url}")


def test_savepoint_upgrade_and_incompatible_restore(flink_cluster, unique_job_name):
    c = flink_cluster
    tag = f'{unique_job_name} spaces "quotes" \'single\' ünïcødé ✓'
    common = ["--rate", "400", "--keys", "4", "--heartbeat-every", "20", "--tag", tag,
              "--checkpoint-interval", "1000"]

    # v1 runs and counts
    jar_v1 = upload(c, "stateful-v1")
    t0 = time.time()
    r = run(c, jar_v1, ["--name", unique_job_name + "-v1"] + common)
    assert r.status_code == 200, error_text(r)
    job_v1 = r.json()["jobid"]
    job = wait_all_running(c, job_v1)
    print(f"{c.version}: v1 all tasks RUNNING {time.time() - t0:.2f}s after run request")
    assert job["name"] == unique_job_name + "-v1"
    assert job["tasks"]["total"] >= 2
    wait_counts(c, tag, "v1", minimum=8)
    assert output_lines(c, HB_RE, tag, "v1"), "no heartbeat lines"

    # stop with savepoint
    location = stop_with_savepoint(c, job_v1)
    assert location.startswith("file:") and c.savepoint_dir.name in location, location
    wait_state(c, job_v1, ("FINISHED",), timeout=30)
    time.sleep(1.0)  # let the TaskManager flush stdout
    last_v1 = {}
    for m in output_lines(c, COUNT_RE, tag, "v1"):
        last_v1[int(m.group(1))] = max(last_v1.get(int(m.group(1)), 0), int(m.group(2)))
    assert len(last_v1) == 4, last_v1

    # v2 restored from the savepoint continues the counters
    jar_v2 = upload(c, "stateful-v2")
    r = run(c, jar_v2, ["--name", unique_job_name + "-v2"] + common, savepointPath=location)
    assert r.status_code == 200, error_text(r)
    job_v2 = r.json()["jobid"]
    try:
        wait_all_running(c, job_v2)
        v2 = wait_counts(c, tag, "v2", minimum=4)
        first_v2 = {}
        for m in v2:
            first_v2.setdefault(int(m.group(1)), int(m.group(2)))
        for key, count in first_v2.items():
            assert count > last_v1[key], (key, count, last_v1)
        # the restore is visible in the checkpoint statistics (served from a cache: poll)
        deadline = time.time() + 20
        restored = None
        while time.time() < deadline and not restored:
            cp = requests.get(f"{c.url}/jobs/{job_v2}/checkpoints", timeout=10).json()
            restored = (cp.get("latest") or {}).get("restored")
            time.sleep(1)
        assert restored and restored["is_savepoint"], cp
        assert restored["external_path"].rstrip("/").endswith(location.rstrip("/").rsplit("/", 1)[-1])
    finally:
        cancel(c, job_v2)

    # the incompatible JAR cannot restore the v1 state without allowNonRestoredState
    jar_bad = upload(c, "stateful-incompatible")
    r = run(c, jar_bad, ["--name", unique_job_name + "-bad"] + common, savepointPath=location,
            allowNonRestoredState=False)
    assert r.status_code == 400, (r.status_code, r.text[:2000])
    assert "Failed to rollback to checkpoint/savepoint" in error_text(r)
    # ... but runs when non-restored state is allowed
    r = run(c, jar_bad, ["--name", unique_job_name + "-bad-allowed"] + common, savepointPath=location,
            allowNonRestoredState=True)
    assert r.status_code == 200, error_text(r)
    job_ok = r.json()["jobid"]
    try:
        wait_all_running(c, job_ok)
        lines = wait_counts(c, tag, "incompatible", minimum=1)
        assert int(lines[0].group(2)) == 50  # fresh state: counting starts from zero
    finally:
        cancel(c, job_ok)


def test_throw_in_main_fails_at_plan(flink_cluster, unique_job_name):
    c = flink_cluster
    jar = upload(c, "stateful-v1")
    body = run_body(c, ["--name", unique_job_name, "--variant", "throw-in-main"])
    r = requests.post(f"{c.url}/jars/{jar}/plan", json=body, timeout=60)
    assert r.status_code >= 400, r.text[:1000]
    assert "flinkops test: main failed on purpose" in error_text(r)
    # a healthy program gives a plan whose vertex names carry our uids/names
    ok = requests.post(f"{c.url}/jars/{jar}/plan", json=run_body(c, ["--name", unique_job_name]), timeout=60)
    assert ok.status_code == 200, error_text(ok)
    names = " ".join(n["description"] for n in ok.json()["plan"]["nodes"])
    assert "flinkops-keyed-counter" in names, names
    # no job was created by either plan call
    jobs = requests.get(f"{c.url}/jobs/overview", timeout=10).json()["jobs"]
    assert not [j for j in jobs if j["name"].startswith(unique_job_name)]


def test_fail_on_start_keeps_restarting(flink_cluster, unique_job_name):
    c = flink_cluster
    jar = upload(c, "stateful-v1")
    r = run(c, jar, ["--name", unique_job_name, "--variant", "fail-on-start"])
    assert r.status_code == 200, error_text(r)
    job_id = r.json()["jobid"]
    try:
        deadline = time.time() + 60
        text = ""
        while time.time() < deadline:
            ex = requests.get(f"{c.url}/jobs/{job_id}/exceptions", timeout=10).json()
            text = str(ex)
            if "fail-on-start variant fails on purpose" in text:
                break
            time.sleep(1)
        assert "fail-on-start variant fails on purpose" in text, text[:2000]
        assert job_overview(c, job_id)["state"] not in TERMINAL
    finally:
        cancel(c, job_id)
