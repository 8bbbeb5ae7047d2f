# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""`make bench-drain`: drain + restore of N jobs (playbooks drain.yml, restore.yml) against one job's.

On one local Flink cluster (flinkops_devkit.flinkctl):
  baseline  one job: drain.yml then restore.yml (one stop with savepoint + one start from it,
            through the same playbooks), and the same with bare flink_job calls for reference;
  N jobs    N jobs drained and restored, cluster_drain_parallel / cluster_restore_parallel at once.
Target: the N-job time <= 3x the one-job time (the stops and starts run in parallel).
Per job, "records stopped" is what the job did not process between its last record before the
stop and its first record after the restore (its downtime times its rate, from the job's own
heartbeat lines in the TaskManager output). Writes build/bench/drain_restore.json.

    python bench/drain_restore.py [--jobs 12] [--parallel 4] [--version 2.3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from flinkops_devkit import flinkctl
from flinkops_devkit.modules import collection_root, run_module
from flinkops_devkit.playbooks import run_playbook

ROOT = Path(__file__).resolve().parent.parent

RATE = 200
HB_EVERY = 2
HB_RE = re.compile(r"FLINKOPS HB offset=(\d+) ts=(\d+) version=(\S+) tag=(\S*)")


def log(msg):
    print("[bench-drain %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def playbook(name):
    return os.path.join(collection_root(), "ansible_collections", "flinkops", "flink", "playbooks", name)


def start(cluster, jar, name):
    result = run_module("flink_job", dict(
        url=cluster.url, name=name, jar=str(jar), entry_class=cluster.jobs["entry_class"],
        args=["--name", name, "--tag", name, "--rate", str(RATE), "--heartbeat-every", str(HB_EVERY)]))
    assert result["action"] == "started", result
    return result


def heartbeats(cluster):
    """{tag: [epoch ms of each heartbeat]} from the TaskManager output."""
    beats = {}
    for line in cluster.taskmanager_stdout().splitlines():
        match = HB_RE.search(line)
        if match:
            beats.setdefault(match.group(4), []).append(int(match.group(2)))
    return beats


def gap_ms(beats, before_ms):
    """The largest pause in a job's heartbeats after ``before_ms``: its downtime."""
    times = sorted(t for t in beats if t >= before_ms)
    gaps = [b - a for a, b in zip(times, times[1:])]
    return max(gaps) if gaps else None


def wait_beating(cluster, names, after_ms, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        beats = heartbeats(cluster)
        if all(len([t for t in beats.get(n, []) if t > after_ms]) >= 5 for n in names):
            return
        time.sleep(0.5)
    raise RuntimeError("jobs do not print heartbeats: %s" % names)


def drain_restore(cluster, work, jar_dir, names, parallel):
    """Time drain.yml + restore.yml over the running jobs ``names``; per-job downtime."""
    manifest = work / ("manifest-%s.json" % uuid.uuid4().hex[:6])
    common = dict(flink_manifest=str(manifest))
    mark = int(time.time() * 1000)
    t0 = time.monotonic()
    drained = run_playbook(playbook("drain.yml"), dict(
        common, cluster_drain_url=cluster.url, cluster_drain_parallel=parallel), work)
    t1 = time.monotonic()
    if drained.rc != 0:
        raise RuntimeError("drain failed:\n" + drained.output[-3000:])
    restored = run_playbook(playbook("restore.yml"), dict(
        common, flink_jar_dirs=[str(jar_dir)], cluster_restore_url=cluster.url,
        cluster_restore_parallel=parallel, cluster_restore_health_window=0), work)
    t2 = time.monotonic()
    if restored.rc != 0:
        raise RuntimeError("restore failed:\n" + restored.output[-3000:])
    wait_beating(cluster, names, int(time.time() * 1000))
    beats = heartbeats(cluster)
    per_job = {}
    for name in names:
        down = gap_ms(beats.get(name, []), mark)
        per_job[name] = {"downtime_s": round(down / 1000.0, 2) if down else None,
                         "records_stopped": int(down / 1000.0 * RATE) if down else None}
    return {"drain_s": round(t1 - t0, 2), "restore_s": round(t2 - t1, 2),
            "total_s": round(t2 - t0, 2), "jobs": per_job}


def module_stop_start(cluster, jar, name):
    """One job's stop with savepoint and start from it with two flink_job calls (reference)."""
    t0 = time.monotonic()
    stopped = run_module("flink_job", dict(url=cluster.url, name=name, state="stopped"))
    assert stopped["action"] == "stopped", stopped
    result = run_module("flink_job", dict(
        url=cluster.url, name=name, jar=str(jar), entry_class=cluster.jobs["entry_class"],
        savepoint_path=stopped["savepoint"],
        args=["--name", name, "--tag", name, "--rate", str(RATE), "--heartbeat-every", str(HB_EVERY)]))
    assert result["action"] == "started" and result["restored_from"] == stopped["savepoint"], result
    return round(time.monotonic() - t0, 2)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--jobs", type=int, default=12)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--version", default="2.3")
    parser.add_argument("--out", default=str(ROOT / "build" / "bench" / "drain_restore.json"))
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench-drain-"))
    jar_dir = work / "jars"
    jar_dir.mkdir()
    cluster = flinkctl.Cluster(args.version, name="bench-drain-%s" % uuid.uuid4().hex[:6],
                               slots=args.jobs + 2, tm_memory="2048m")
    cluster.jobs = flinkctl.build_jobs(args.version)
    jar = jar_dir / "stateful-job.jar"
    shutil.copy(cluster.jobs["stateful-v1"], jar)
    results = {"flink": cluster.version, "jobs": args.jobs, "parallel": args.parallel,
               "rate_records_per_s": RATE}
    try:
        cluster.start(timeout=300)
        log("cluster %s at %s" % (cluster.version, cluster.url))
        one = "bench-one-%s" % uuid.uuid4().hex[:4]
        start(cluster, jar, one)
        wait_beating(cluster, [one], 0)
        results["one_job_modules_s"] = module_stop_start(cluster, jar, one)
        log("one job, flink_job stop + start: %ss" % results["one_job_modules_s"])
        wait_beating(cluster, [one], int(time.time() * 1000))
        results["one_job"] = drain_restore(cluster, work, jar_dir, [one], args.parallel)
        log("one job, drain + restore: %ss" % results["one_job"]["total_s"])
        run_module("flink_job", dict(url=cluster.url, name=one, state="stopped", stop_mode="cancel"))

        names = ["bench-%02d-%s" % (i, uuid.uuid4().hex[:4]) for i in range(args.jobs)]
        for name in names:
            start(cluster, jar, name)
        wait_beating(cluster, names, 0)
        results["n_jobs"] = drain_restore(cluster, work, jar_dir, names, args.parallel)
        log("%d jobs, drain + restore: %ss" % (args.jobs, results["n_jobs"]["total_s"]))
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)

    results["ratio"] = round(results["n_jobs"]["total_s"] / results["one_job"]["total_s"], 2)
    results["target_ratio"] = 3.0
    results["met"] = results["ratio"] <= 3.0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    stopped = [j["records_stopped"] for j in results["n_jobs"]["jobs"].values() if j["records_stopped"]]
    print("drain + restore, Flink %s, %d jobs, %d at a time" % (cluster.version, args.jobs, args.parallel))
    print("  one job (same playbooks):   %6.1f s (drain %.1f + restore %.1f)" % (
        results["one_job"]["total_s"], results["one_job"]["drain_s"], results["one_job"]["restore_s"]))
    print("  one job (flink_job calls):  %6.1f s" % results["one_job_modules_s"])
    print("  %2d jobs:                    %6.1f s (drain %.1f + restore %.1f)" % (
        args.jobs, results["n_jobs"]["total_s"], results["n_jobs"]["drain_s"], results["n_jobs"]["restore_s"]))
    print("  ratio %.2f (target <= 3.0): %s" % (results["ratio"], "met" if results["met"] else "NOT met"))
    print("  records stopped per job (at %d records/s): min %s, max %s" % (
        RATE, min(stopped) if stopped else "-", max(stopped) if stopped else "-"))
    for name, job in sorted(results["n_jobs"]["jobs"].items()):
        print("    %-22s downtime %6s s  records stopped %s" % (name, job["downtime_s"], job["records_stopped"]))
    print("  written to %s" % out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
