# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""`make bench-converge`: flink_jobs (converge a cluster to a cluster file) against one job's upgrade.

On one local Flink cluster (flinkops_devkit.flinkctl), in one run:
  floor     one job's upgrade (flink_job, stateful-v1 -> v2 and back: each an upgrade with a
            savepoint, the same engine, pre-check and health gate a converge uses per job);
  no-op     flink_jobs over a cluster file of 5, then of 20 running jobs that all match it: the
            wall time per declared job and the REST requests per declared job (counted through
            flinkops_devkit.faultproxy), and that it sends no request but GETs;
  12 jobs   flink_jobs over a cluster file whose 12 jobs all change (v1 -> v2, then back),
            max_parallel 12.
Targets: 12 changed jobs <= 3x one job's upgrade; the no-op cost per job with 20 jobs <= 1.2x
the cost per job with 5. Writes build/bench/converge.json and docs/benchmarks-converge.md.

    python bench/converge.py [--n 5] [--jobs 12] [--parallel 12] [--version 2.3] [--docs docs]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

from flinkops_devkit import flinkctl
from flinkops_devkit.faultproxy import FaultProxy
from flinkops_devkit.modules import run_module

ROOT = Path(__file__).resolve().parent.parent
RATE = 50  # records per second per job: 20 jobs share one TaskManager on a shared machine


def log(msg):
    print("[bench-converge %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def item(cluster, name, version="stateful-v1"):
    return dict(name=name, jar=cluster.jobs[version], entry_class=cluster.jobs["entry_class"],
                args=["--name", name, "--tag", name, "--rate", str(RATE)])


def timed(func, *args, **kwargs):
    t0 = time.monotonic()
    result = func(*args, **kwargs)
    return time.monotonic() - t0, result


def converge(url, jobs, **options):
    result = run_module("flink_jobs", dict(url=url, jobs=jobs, **options))
    if result.get("failed"):
        raise RuntimeError("flink_jobs failed: %s" % result.get("msg"))
    return result


def upgrade_one(cluster, name, version):
    result = run_module("flink_job", dict(item(cluster, name, version), url=cluster.url))
    if result.get("action") != "upgraded":
        raise RuntimeError("flink_job did not upgrade %s: %s" % (name, result.get("msg") or result.get("action")))
    return result


def noop(cluster, jobs, n):
    """n timed no-op converges, then one through the counting proxy."""
    walls = []
    for _run in range(n):
        wall, result = timed(converge, cluster.url, jobs)
        if result["changed"]:
            raise RuntimeError("a no-op converge changed something: %s" % result["actions"])
        walls.append(wall)
    with FaultProxy(cluster.url) as proxy:
        converge(proxy.url, jobs)
    requests = [method for method, _path in proxy.seen]
    return {"jobs": len(jobs), "walls_s": [round(w, 3) for w in walls],
            "median_s": round(statistics.median(walls), 3),
            "per_job_s": round(statistics.median(walls) / len(jobs), 4),
            "requests": len(requests), "requests_per_job": round(len(requests) / float(len(jobs)), 2),
            "writes": len([m for m in requests if m != "GET"])}


def wait_all_running(cluster, names, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        _st, overview = flinkctl.rest(cluster.url, "GET", "/jobs/overview", timeout=30)
        running = set(j["name"] for j in overview["jobs"] if j["state"] == "RUNNING" and
                      j["tasks"]["running"] + j["tasks"].get("finished", 0) == j["tasks"]["total"])
        if set(names) <= running:
            return
        time.sleep(0.5)
    raise RuntimeError("jobs not all running: %s" % sorted(set(names)))


def measure(args):
    cluster = flinkctl.Cluster(args.version, name="bench-converge-%s" % uuid.uuid4().hex[:6],
                               slots=22, tm_memory="3072m")
    cluster.jobs = flinkctl.build_jobs(args.version)
    tag = uuid.uuid4().hex[:4]
    results = {"flink": None, "n": args.n, "jobs": args.jobs, "parallel": args.parallel, "rate": RATE,
               "cpus": os.cpu_count()}
    try:
        cluster.start(timeout=300)
        results["flink"] = cluster.version
        log("cluster %s at %s" % (cluster.version, cluster.url))

        # The floor: one job's upgrade, v1 -> v2 -> v1 ... (then cancelled: not in any file).
        solo = "solo-%s" % tag
        started = run_module("flink_job", dict(item(cluster, solo), url=cluster.url))
        assert started.get("action") == "started", started
        floor = []
        for i in range(args.n):
            wall, _result = timed(upgrade_one, cluster, solo, "stateful-v2" if i % 2 == 0 else "stateful-v1")
            floor.append(wall)
        run_module("flink_job", dict(url=cluster.url, name=solo, state="stopped", stop_mode="cancel"))
        results["one_upgrade"] = {"walls_s": [round(w, 2) for w in floor],
                                  "median_s": round(statistics.median(floor), 2)}
        log("one job's upgrade: %s" % results["one_upgrade"])

        # No-op with 5, then with 20 declared jobs.
        names = ["c%02d-%s" % (i, tag) for i in range(20)]
        five, twenty = [item(cluster, n) for n in names[:5]], [item(cluster, n) for n in names]
        converge(cluster.url, five, max_parallel=5)
        wait_all_running(cluster, names[:5])
        results["noop_5"] = noop(cluster, five, args.n)
        log("no-op, 5 jobs: %s" % results["noop_5"])
        converge(cluster.url, twenty, max_parallel=8)
        wait_all_running(cluster, names)
        results["noop_20"] = noop(cluster, twenty, args.n)
        log("no-op, 20 jobs: %s" % results["noop_20"])

        # 12 changed jobs (the others cancelled first: not measured).
        kept = names[:args.jobs]
        converge(cluster.url, [item(cluster, n) for n in kept], prune="cancel",
                 max_prune=len(names) - len(kept))
        walls, plans = [], []
        for i in range(args.n):
            version = "stateful-v2" if i % 2 == 0 else "stateful-v1"
            cluster_file = [item(cluster, n, version) for n in kept]
            # The plan alone (check mode: the same probes, nothing applied), for the breakdown.
            plan_wall, _plan = timed(run_module, "flink_jobs", dict(
                url=cluster.url, jobs=cluster_file, max_parallel=args.parallel), check=True)
            plans.append(plan_wall)
            wall, result = timed(converge, cluster.url, cluster_file, max_parallel=args.parallel)
            upgraded = [j for j in result["jobs"] if j["name"] in kept and j["action"] == "upgraded"]
            if len(upgraded) != len(kept):
                raise RuntimeError("the converge upgraded %d of %d jobs: %s" % (
                    len(upgraded), len(kept), result["summary"]))
            walls.append(wall)
            log("%d changed jobs: %.2fs (%s)" % (len(kept), wall, result["summary"][:80]))
        results["changed"] = {"walls_s": [round(w, 2) for w in walls],
                              "median_s": round(statistics.median(walls), 2),
                              "plan_walls_s": [round(w, 2) for w in plans],
                              "plan_median_s": round(statistics.median(plans), 2)}
    finally:
        cluster.stop()
    results["ratio_changed"] = round(results["changed"]["median_s"] / results["one_upgrade"]["median_s"], 2)
    results["ratio_noop_per_job"] = round(results["noop_20"]["per_job_s"] / results["noop_5"]["per_job_s"], 2)
    results["met_changed"] = results["ratio_changed"] <= 3.0
    results["met_noop"] = results["ratio_noop_per_job"] <= 1.2 and \
        results["noop_20"]["writes"] == results["noop_5"]["writes"] == 0
    return results


def markdown(results):
    one, changed = results["one_upgrade"], results["changed"]
    five, twenty = results["noop_5"], results["noop_20"]

    def verdict(ok):
        return "met" if ok else "**not met**"

    lines = [
        "# Benchmarks: converging a cluster (flink_jobs)",
        "",
        "Generated by `make bench-converge` (bench/converge.py); do not edit. Flink %s, one local "
        "session cluster (1 TaskManager, 22 slots) on this machine, each job the sample stateful "
        "job at %d records/s. Times are wall clock of the module process (as Ansible runs it), "
        "medians of %d runs; the ratios compare numbers measured in the same run." % (
            results["flink"], results["rate"], results["n"]),
        "",
        "| What | Median | Runs | Target | Ratio | |",
        "|---|---|---|---|---|---|",
        "| one job's upgrade (flink_job, the floor) | %.2f s | %s | | | |" % (
            one["median_s"], ", ".join("%.2f" % w for w in one["walls_s"])),
        "| converge of %d changed jobs (max_parallel %d) | %.2f s | %s | <= 3x the floor | %.2fx | %s |" % (
            results["jobs"], results["parallel"], changed["median_s"],
            ", ".join("%.2f" % w for w in changed["walls_s"]), results["ratio_changed"],
            verdict(results["met_changed"])),
        "| its plan alone (the same converge in check mode) | %.2f s | %s | | | |" % (
            changed["plan_median_s"], ", ".join("%.2f" % w for w in changed["plan_walls_s"])),
        "| no-op converge, 5 jobs | %.3f s (%.3f s per job) | %s | | | |" % (
            five["median_s"], five["per_job_s"], ", ".join("%.2f" % w for w in five["walls_s"])),
        "| no-op converge, 20 jobs | %.3f s (%.3f s per job) | %s | per job <= 1.2x with 5 | %.2fx | %s |" % (
            twenty["median_s"], twenty["per_job_s"], ", ".join("%.2f" % w for w in twenty["walls_s"]),
            results["ratio_noop_per_job"], verdict(results["met_noop"])),
        "",
        "REST requests of one no-op converge (counted through the fault proxy): %d with 5 jobs "
        "(%.1f per job), %d with 20 jobs (%.1f per job); requests other than GET: %d and %d." % (
            five["requests"], five["requests_per_job"], twenty["requests"],
            twenty["requests_per_job"], five["writes"], twenty["writes"]),
        "",
        "What the numbers mean: a converge reads the cluster once per declared job (the same "
        "check-mode survey flink_job makes) and then changes up to max_parallel jobs at once, "
        "each through the engine with its own connection; a converge whose plan changes nothing "
        "writes nothing (not even its claim on the cluster). The no-op cost per job includes the "
        "module process's start-up, shared by all the jobs of a run.",
        "",
        "Where the time of the changed jobs goes: each upgrade plans the new program on the "
        "JobManager (its main() runs for the state pre-check, in the plan and again by the job's "
        "engine before its stop), stops the old job with a savepoint and submits the new one. "
        "That is CPU work of the JobManager and the TaskManager, which overlaps only as far as "
        "the machine has cores: this run had %d CPUs (os.cpu_count()), shared with whatever "
        "else ran on it." % results["cpus"],
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--n", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=12)
    parser.add_argument("--parallel", type=int, default=12)
    parser.add_argument("--version", default="2.3")
    parser.add_argument("--out", default=str(ROOT / "build" / "bench" / "converge.json"))
    parser.add_argument("--docs", default=str(ROOT / "docs"))
    args = parser.parse_args(argv)
    results = measure(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    page = Path(args.docs) / "benchmarks-converge.md"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(markdown(results))
    print(markdown(results))
    print("written to %s and %s" % (out, page))
    return 0


if __name__ == "__main__":
    sys.exit(main())
