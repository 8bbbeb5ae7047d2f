# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The head fence (issue 25) on a ZooKeeper-HA cluster (flinkops_devkit.hacluster), with real
processes: a run frozen (SIGSTOP) in its submit, past its lease, resumes after others
replaced its predecessor twice and a leader change made Flink forget the job id it
submits. Flink would accept that id again (shown by a raw submission); the durable
store's head refuses the run: it starts nothing, one job runs, the state carried once.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time

import pytest

from flinkops_devkit.faultproxy import FaultProxy
from flinkops_devkit.modules import ModuleRun
from flinkops_devkit.rest import rest, upload_jar

pytestmark = pytest.mark.xdist_group("state-store")

# Past the claim's lease (_lease.LEASE_MS, 10 s) a frozen run's claim is taken over.
PAST_THE_LEASE_S = 15


def probe_submit(ha, job_id, name):
    """A raw run request of ``job_id`` (bypassing the collection) that can never run: its
    savepoint does not exist. Flink's answer tells whether it still knows the id: a duplicate,
    or a failure of the restore (the id was accepted)."""
    for via in (0, 1):
        status, answer = upload_jar(ha.url_of(via), ha.jobs["stateful-v1"])
        if status == 200:
            jar_id = os.path.basename(answer["filename"])
            return rest(ha.url_of(via), "POST", "/jars/%s/run" % jar_id, body={
                "entryClass": ha.jobs["entry_class"], "jobId": job_id,
                "programArgsList": ["--name", name + "-probe", "--tag", name + "-probe"],
                "savepointPath": "file:///nonexistent/flinkops-probe/savepoint-0"}, timeout=120)
    raise AssertionError("no JobManager took the probe's upload")


def is_duplicate(answer):
    return "Duplicate" in json.dumps(answer)


def test_a_run_frozen_past_its_lease_is_refused_by_the_store_after_flink_forgot_its_id(
        ha, ha_flink, ha_job, module, state_store_of):
    started_at = time.time()
    store = state_store_of("s3")  # no session to expire under a frozen run: the head alone refuses
    v1 = ha_job(state_store=store)
    name = v1["name"]
    first = module("flink_job", v1)
    assert first["action"] == "started", first
    ha_flink.wait_counts(name, "v1", minimum=2)
    upstream = ha.wait_leader()

    # B: its stop of P succeeds, its submit request is answered with a reset while the process
    # is frozen; it will retry once it runs again.
    frozen, runs = threading.Event(), {}

    def freeze_b():
        os.kill(runs["b"].proc.pid, signal.SIGSTOP)
        frozen.set()

    v2 = dict(jar="stateful-v2", state_store=store)
    with FaultProxy(ha.url_of(upstream)) as proxy:
        proxy.add("POST", r"^/jars/.+/run$", "reset", 1, hook=freeze_b)
        runs["b"] = b_run = ModuleRun(ha_job(via=upstream, url=proxy.url, **v2), "run-b")
        try:
            assert frozen.wait(300), "run B never submitted"
            time.sleep(PAST_THE_LEASE_S)
            # A takes B's abandoned claim over and submits the same successor id S.
            a = ModuleRun(ha_job(via=upstream, **v2), "run-a").result()
            assert not a.get("failed") and a["previous_job_id"] == first["job_id"], a
            ha_flink.wait_counts(name, "v2", minimum=2)
            # C replaces S with S2 (another spec: a configuration change).
            c = ModuleRun(ha_job(via=upstream, configuration={"pipeline.object-reuse": "true"}, **v2),
                          "run-c").result()
            assert c["action"] == "upgraded" and c["previous_job_id"] == a["job_id"], c
            ha_flink.wait_counts(name, "v2", minimum=4)
            # S2 stopped with a savepoint: a job running across the leader change would replay
            # its output since its last checkpoint, which the exactly-once ledger would count.
            d = module("flink_job", ha_job(via=upstream, configuration={"pipeline.object-reuse": "true"},
                                           state="stopped", **v2))
            assert d["action"] == "stopped" and d["savepoint"], d

            # Before a leader change Flink itself refuses S again ...
            status, answer = probe_submit(ha, a["job_id"], name)
            assert is_duplicate(answer), (status, answer)
            # ... after one it has forgotten S (and P, S2): they ended before it.
            ended = (first["job_id"], a["job_id"], c["job_id"])
            for job_id in ended:
                ha.wait_job_cleaned_up(job_id)
            leader = ha.wait_leader()
            ha.restart_jobmanager_of(leader, wipe_upload_dir=True)
            ha.wait_leader(timeout=180)
            deadline = time.time() + 120
            while any(ha_flink.state(jid) for jid in ended):
                assert time.time() < deadline, "the leader change kept the ended jobs listed"
                time.sleep(1)
            assert ha_flink.active(name) == []
        finally:
            os.kill(b_run.proc.pid, signal.SIGCONT)
        b = b_run.result()

    for result in (a, b, c):
        assert "Traceback" not in json.dumps(result), result
    # B's retry of S: refused by the store's head (S2), before any request reached Flink.
    assert b.get("failed"), b
    assert "the state store says the name has moved on" in b["msg"], b["msg"]
    assert re.search(r"this run would start job %s in place of job %s" % (a["job_id"], first["job_id"]),
                     b["msg"]), b["msg"]
    assert "its head is job %s (moved there from job %s by awx job run-c" % (c["job_id"], a["job_id"]) \
        in b["msg"], b["msg"]
    assert b["action"] == "none" and b.get("job_id") is None, b
    assert ha_flink.active(name) == [] and ha_flink.state(a["job_id"]) is None  # B started nothing
    info = module("flink_job_info", dict(url=ha.url_of(0), name=name, state_store=store))
    assert "refused" in [op["action"] for op in info["operations"]], info["operations"]

    # The fence does not stand in a legitimate run's way: the next run resumes S2's state.
    e = module("flink_job", ha_job(configuration={"pipeline.object-reuse": "true"}, **v2))
    assert e["action"] == "resumed" and e["restored_from"] == d["savepoint"], json.dumps(
        dict(a=a, c=c, d=d, e=e))[:8000]
    assert [j["jid"] for j in ha_flink.active(name)] == [e["job_id"]]
    ha_flink.wait_counts(name, "v2", minimum=6)
    ha_flink.assert_exactly_once(name)

    # Without the store's fence, Flink would have taken S (from P's old savepoint): a raw
    # submission of it is accepted now; it fails only on its missing savepoint. (Last: a job
    # listed with S's id, confirmed as this name's, would be taken for the name's newest run.)
    status, answer = probe_submit(ha, a["job_id"], name)
    assert status == 400 and not is_duplicate(answer), (status, answer)
    print("head fence scenario took %.0f s" % (time.time() - started_at))
