#!/usr/bin/env python
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""CPU a test cluster costs: to start, idle, and running one test job.

Starts one session cluster exactly as the devkit does (flinkops_devkit.flinkctl.Cluster, the
test JVM options included), then reads the CPU time (utime + stime in /proc/<pid>/stat, so the
machine's other load hardly matters) of its JobManager and TaskManager JVMs:

    start    CPU of the daemon scripts and the JVMs they run to read the configuration
             (BashJavaUtils; waited children of this process), plus the two daemon JVMs'
             CPU up to the moment the cluster answers ready
    settle   the JVMs' CPU during --settle seconds after that (late start-up work)
    idle     CPU-s per minute over --idle seconds with no job
    job      CPU-s per minute over --job seconds with the test job running the way the
             integration tests run it (stateful-v1, --rate 400, 1 s checkpoints), measured
             after --settle seconds of it running (0 skips it)

--threads prints the busiest JVM threads of the idle (and job) window: what the CPU goes to.

Usage (from the checkout; one measurement at a time, the machine is shared):

    PYTHONPATH=tests/devkit /work/main/.venv/bin/python hack/measure_cluster_cpu.py 2.3
    ... hack/measure_cluster_cpu.py 2.3 --idle 120 --job 120 --threads
    ... hack/measure_cluster_cpu.py 2.3 --jvm-opts "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:CICompilerCount=1"
    ... hack/measure_cluster_cpu.py 2.3 --set heartbeat.interval=5000 --set metrics.fetcher.update-interval=60000
    ... hack/measure_cluster_cpu.py 2.3 --ha        # the HA cluster (ZooKeeper, two JobManagers)
    ... hack/measure_cluster_cpu.py 2.3 --repeat 3  # three clusters one after another, and the median

--jvm-opts replaces the devkit's FLINKOPS_TEST_JVM_OPTS for this run ("" keeps the JVM's
defaults); --set KEY=VALUE adds cluster configuration (like a test's extra_config). Prints one
JSON line per cluster and a summary line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
import uuid

TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """utime + stime of a process in seconds (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def thread_cpu(pid: int) -> dict:
    """{thread name: CPU seconds} of a process (threads of one name summed)."""
    out: dict = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as fh:
                text = fh.read()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        name = name.rstrip("0123456789-#").rstrip() or name  # "pool-3-thread-1" -> "pool-3-thread"
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / TICKS
    return out


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


class Roles:
    """The cluster's JVMs by role: jobmanager(s), taskmanager, zookeeper."""

    def __init__(self, cluster, ha: bool):
        self.cluster = cluster
        self.ha = ha

    def pids(self) -> dict:
        c = self.cluster
        if self.ha:
            roles = {f"jobmanager{i}": [p] for i, p in enumerate(c.jm_pids) if p}
            roles["taskmanager"] = c._tm_pids()
            if c.zk is not None and getattr(c.zk, "pid", None):
                roles["zookeeper"] = [c.zk.pid]
            return roles
        return {"jobmanager": c._jm_pids(), "taskmanager": c._tm_pids()}

    def cpu(self) -> dict:
        return {role: sum(proc_cpu(p) for p in pids) for role, pids in self.pids().items()}

    def threads(self) -> dict:
        return {role: thread_cpu(pids[0]) for role, pids in self.pids().items() if pids}


def delta(after: dict, before: dict) -> dict:
    return {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}


def busiest(after: dict, before: dict, top: int = 8) -> dict:
    out = {}
    for role, threads in after.items():
        d = delta(threads, before.get(role, {}))
        out[role] = [(name, round(s, 2)) for name, s in sorted(d.items(), key=lambda kv: -kv[1])[:top] if s > 0]
    return out


def window(roles: Roles, seconds: float, threads: bool) -> tuple:
    before, tbefore, t0 = roles.cpu(), roles.threads() if threads else {}, time.time()
    time.sleep(seconds)
    after, elapsed = roles.cpu(), time.time() - t0
    per_min = {k: round(v * 60.0 / elapsed, 2) for k, v in delta(after, before).items()}
    per_min["total"] = round(sum(v for k, v in per_min.items()), 2)
    return per_min, (busiest(roles.threads(), tbefore) if threads else None)


def run_job(cluster, flinkctl) -> str:
    jobs = cluster.jobs
    st, up = flinkctl.upload_jar(cluster.url, jobs["stateful-v1"])
    if st != 200:
        raise RuntimeError(f"upload: {st} {up}")
    jar_id = up["filename"].rsplit("/", 1)[-1]
    name = f"cpu-{uuid.uuid4().hex[:6]}"
    st, run = flinkctl.rest(cluster.url, "POST", f"/jars/{jar_id}/run",
                            {"entryClass": jobs["entry_class"],
                             "programArgsList": ["--name", name, "--tag", name, "--rate", "400"]}, timeout=120)
    if st != 200:
        raise RuntimeError(f"run: {st} {run}")
    job_id = run["jobid"]
    deadline = time.time() + 120
    while time.time() < deadline:
        st, ov = flinkctl.rest(cluster.url, "GET", "/jobs/overview")
        job = next((j for j in (ov or {}).get("jobs", []) if j["jid"] == job_id), None)
        if job and job["state"] == "RUNNING" and job["tasks"]["running"] == job["tasks"]["total"]:
            return job_id
        time.sleep(0.5)
    raise RuntimeError(f"job {job_id} not running after 120 s")


def measure_once(args, flinkctl, hacluster) -> dict:
    extra = dict(kv.split("=", 1) for kv in args.set)
    if args.ha:
        cluster = hacluster.HaCluster(args.version, slots=8, extra_config=extra)
    else:
        cluster = flinkctl.Cluster(args.version, name=f"cpu-{uuid.uuid4().hex[:6]}", extra_config=extra,
                                   **({"jm_memory": args.jm_memory} if args.jm_memory else {}),
                                   **({"tm_memory": args.tm_memory} if args.tm_memory else {}))
    cluster.jobs = flinkctl.build_jobs(args.version)
    roles = Roles(cluster, args.ha)
    result: dict = {"version": flinkctl.resolve_version(args.version), "ha": args.ha,
                    "jvm_opts": flinkctl.TEST_JVM_OPTS, "set": extra}
    try:
        children0, t0 = children_cpu(), time.time()
        cluster.start()
        at_ready = roles.cpu()
        scripts = children_cpu() - children0
        result["start_wall_s"] = round(time.time() - t0, 1)
        result["start_cpu_s"] = {"scripts": round(scripts, 2),
                                 **{k: round(v, 2) for k, v in at_ready.items()},
                                 "total": round(scripts + sum(at_ready.values()), 2)}
        time.sleep(args.settle)
        result["settle_cpu_s"] = {k: round(v, 2) for k, v in delta(roles.cpu(), at_ready).items()}
        result["idle_cpu_s_per_min"], idle_threads = window(roles, args.idle, args.threads)
        if idle_threads:
            result["idle_threads"] = idle_threads
        if args.job:
            run_job(cluster, flinkctl)
            time.sleep(args.settle)
            result["job_cpu_s_per_min"], job_threads = window(roles, args.job, args.threads)
            if job_threads:
                result["job_threads"] = job_threads
        result["rss_mb"] = {role: round(_rss_kb(pids[0]) / 1024) for role, pids in roles.pids().items() if pids}
    finally:
        cluster.stop()
    return result


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("version", help="Flink minor or exact version, e.g. 2.3 or 1.20")
    ap.add_argument("--settle", type=float, default=20.0, help="seconds after start (and job start) not measured")
    ap.add_argument("--idle", type=float, default=120.0, help="seconds of the idle window")
    ap.add_argument("--job", type=float, default=0.0, help="seconds of the with-job window (0: none)")
    ap.add_argument("--jvm-opts", help="replaces FLINKOPS_TEST_JVM_OPTS for this run")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra cluster configuration")
    ap.add_argument("--jm-memory", help="jobmanager.memory.process.size (devkit default 1024m)")
    ap.add_argument("--tm-memory", help="taskmanager.memory.process.size (devkit default 1280m)")
    ap.add_argument("--ha", action="store_true", help="the ZooKeeper HA cluster (hacluster.HaCluster)")
    ap.add_argument("--threads", action="store_true", help="print the busiest threads of each window")
    ap.add_argument("--repeat", type=int, default=1, help="clusters to measure one after another")
    args = ap.parse_args(argv)
    if args.jvm_opts is not None:
        os.environ["FLINKOPS_TEST_JVM_OPTS"] = args.jvm_opts  # read when flinkctl is imported
    from flinkops_devkit import flinkctl, hacluster  # noqa: E402  (after the environment is set)

    results = []
    for _round in range(args.repeat):
        r = measure_once(args, flinkctl, hacluster)
        results.append(r)
        print(json.dumps(r), flush=True)
    summary = {"version": results[0]["version"], "runs": len(results), "jvm_opts": results[0]["jvm_opts"],
               "set": results[0]["set"],
               "start_cpu_s": statistics.median(r["start_cpu_s"]["total"] for r in results),
               "idle_cpu_s_per_min": statistics.median(r["idle_cpu_s_per_min"]["total"] for r in results)}
    if args.job:
        summary["job_cpu_s_per_min"] = statistics.median(r["job_cpu_s_per_min"]["total"] for r in results)
    print("SUMMARY " + json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
