# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""`make bench-heal`: a failed job's downtime when the self_heal rulebook heals it, against the
poll interval and Flink's own restart, and the REST load of the event source.

On one local Flink cluster (flinkops_devkit.flinkctl), each round loses the TaskManager under
one job (killed, a new one started at once):
  flink   the floor: the job has a restart strategy (fixed delay, 1 s), so Flink restarts it
          from its latest checkpoint when the new TaskManager registers;
  heal    the job's restart strategy is none, so it ends FAILED; ansible-rulebook runs the
          shipped self_heal rulebook (the event source polling every P seconds, P from --polls),
          whose heal playbook starts the recorded version from the failed run's checkpoint.
Downtime is the job's pause in its own output: its last heartbeat before the loss to its first
after it (epoch ms). For the heal, also the job's failure (Flink's end time of the failed run)
to that first heartbeat.
Then the source polls through a recording proxy with 1 and with 4 running jobs: its requests
per poll, and per watched job. Writes build/bench/heal.json.

    python bench/heal.py [--n 2] [--polls 1,5] [--version 2.3]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

from flinkops_devkit import flinkctl
from flinkops_devkit.faultproxy import FaultProxy
from flinkops_devkit.modules import collection_root, run_module
from flinkops_devkit.playbooks import ansible_env

ROOT = Path(__file__).resolve().parent.parent
RATE = 200
HB_EVERY = 2
HB_RE = re.compile(r"FLINKOPS HB offset=(\d+) ts=(\d+) version=(\S+) tag=(\S*)")
CHECKPOINTS = {"execution.checkpointing.interval": "1s",
               "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION"}
# Lost once, the job stays FAILED (the heal's case) or Flink restarts it after 1 s (the floor).
GIVES_UP = dict(CHECKPOINTS, **{"restart-strategy.type": "none"})
RESTARTS = dict(CHECKPOINTS, **{"restart-strategy.type": "fixed-delay",
                                "restart-strategy.fixed-delay.attempts": "100",
                                "restart-strategy.fixed-delay.delay": "1s"})


def log(msg):
    print("[bench-heal %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def collection_file(*parts):
    return os.path.join(collection_root(), "ansible_collections", "flinkops", "flink", *parts)


def heartbeats(cluster, tag):
    """Epoch ms of each heartbeat of ``tag`` in the TaskManager output, in order."""
    return [int(m.group(2)) for line in cluster.taskmanager_stdout().splitlines()
            for m in [HB_RE.search(line)] if m and m.group(4) == tag]


# The job prints a heartbeat every few ms; a pause longer than this is the outage.
OUTAGE_MS = 1000


def wait_outage(cluster, tag, killed_ms, timeout=300):
    """(last heartbeat before the outage, first after it), epoch ms: the first pause longer than
    OUTAGE_MS in the job's heartbeats around the kill, once the job prints again. (The kill's own
    clock is not the outage's start: the TaskManager dies a moment after it is told to.)"""
    deadline = time.time() + timeout
    while time.time() < deadline:
        beats = sorted(t for t in heartbeats(cluster, tag) if t >= killed_ms - 5000)
        pauses = [(a, b) for a, b in zip(beats, beats[1:]) if b - a > OUTAGE_MS]
        if pauses:
            return pauses[0]
        time.sleep(0.2)
    raise RuntimeError("job %s printed no heartbeat within %s s after the kill" % (tag, timeout))


def start(cluster, name, configuration):
    result = run_module("flink_job", dict(
        url=cluster.url, name=name, jar=cluster.jobs["stateful-v1"], entry_class=cluster.jobs["entry_class"],
        configuration=configuration,
        args=["--name", name, "--tag", name, "--rate", str(RATE), "--heartbeat-every", str(HB_EVERY)]))
    if result.get("action") != "started":
        raise RuntimeError("start of %s: %s" % (name, result))
    # A completed checkpoint after every task runs, so that both restarts have one to start from.
    deadline = time.time() + 60
    while time.time() < deadline:
        status, stats = flinkctl.rest(cluster.url, "GET", "/jobs/%s/checkpoints" % result["job_id"], timeout=10)
        if status == 200 and ((stats.get("latest") or {}).get("completed") or {}).get("id"):
            break
        time.sleep(0.5)
    return result


def cancel(cluster, name):
    status, overview = flinkctl.rest(cluster.url, "GET", "/jobs/overview", timeout=10)
    for job in overview.get("jobs", []) if status == 200 else []:
        if job["name"] == name and job["state"] not in ("FINISHED", "CANCELED", "FAILED"):
            flinkctl.rest(cluster.url, "PATCH", "/jobs/%s?mode=cancel" % job["jid"], timeout=10)


def lose_taskmanager(cluster, name):
    """Kill the TaskManager under job ``name`` (a new one starts at once); the kill's epoch ms."""
    time.sleep(2)  # a few heartbeats and a checkpoint past the start
    killed = int(time.time() * 1000)
    cluster.restart_taskmanager()
    return killed


class Rulebook:
    """ansible-rulebook running the shipped self_heal rulebook in a session of its own."""

    def __init__(self, cluster, names, poll, work):
        inventory = work / "inventory.yml"
        inventory.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
        variables = work / ("vars-%s.yml" % poll)
        variables.write_text(yaml.safe_dump({"flink_jobs": names, "flink_poll_interval": poll,
                                             "flink_heal_max": 3, "flink_heal_window": 3600}))
        env = ansible_env({"FLINK_URL": cluster.url, "PYTHONPATH": collection_root(),
                           "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")})
        java = "/usr/lib/jvm/java-17-openjdk-amd64"
        if not env.get("JAVA_HOME") and os.path.isdir(java):
            env["JAVA_HOME"] = java
        self.log = work / ("rulebook-%s.log" % poll)
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(
                [os.path.join(os.path.dirname(sys.executable), "ansible-rulebook"), "--rulebook",
                 collection_file("extensions", "eda", "rulebooks", "self_heal.yml"),
                 "-i", str(inventory), "--vars", str(variables), "-v"],
                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=str(work), start_new_session=True)
        deadline = time.time() + 180
        while "Waiting for events" not in self.log.read_text():
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("ansible-rulebook did not start:\n" + self.log.read_text()[-3000:])
            time.sleep(0.5)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)


def flink_restart_round(cluster, name):
    start(cluster, name, RESTARTS)
    killed = lose_taskmanager(cluster, name)
    last, back = wait_outage(cluster, name, killed)
    cancel(cluster, name)
    return (back - last) / 1000.0


def heal_round(cluster, name, rulebook):
    started = start(cluster, name, GIVES_UP)
    killed = lose_taskmanager(cluster, name)
    last, back = wait_outage(cluster, name, killed, timeout=600)
    status, job = flinkctl.rest(cluster.url, "GET", "/jobs/%s" % started["job_id"], timeout=10)
    failed_at = job.get("end-time") if status == 200 and job.get("state") == "FAILED" else None
    if rulebook.proc.poll() is not None:
        raise RuntimeError("ansible-rulebook ended:\n" + rulebook.log.read_text()[-3000:])
    cancel(cluster, name)
    return {"downtime_s": (back - last) / 1000.0,
            "failed_to_first_record_s": (back - failed_at) / 1000.0 if failed_at and failed_at > 0 else None}


def load_source():
    path = collection_file("extensions", "eda", "plugins", "event_source", "flink_jobs.py")
    spec = importlib.util.spec_from_file_location("flink_jobs_source", path)
    source = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(source)
    return source


def source_requests(cluster, names, polls=5):
    """The REST requests the event source sends per poll, watching ``names`` (all running)."""
    source = load_source()
    with FaultProxy(cluster.url) as proxy:
        poller = source.Poller(source.settings({"url": proxy.url, "jobs": names}, {}))
        try:
            poller.poll()  # the first poll: the baseline of every job
            proxy.seen.clear()
            for _poll in range(polls):
                poller.poll()
        finally:
            poller.close()
        seen = list(proxy.seen)
    per_path = {}
    for verb, path in seen:
        key = "%s %s" % (verb, re.sub(r"[0-9a-f]{32}", ":jid", path.split("?")[0]))
        per_path[key] = per_path.get(key, 0) + 1
    return {"per_poll": len(seen) / float(polls), "requests": dict(sorted(per_path.items()))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--n", type=int, default=2, help="rounds per poll interval, and of Flink's restart")
    parser.add_argument("--polls", default="1,5", help="the source's poll intervals to measure (s)")
    parser.add_argument("--version", default="2.3")
    parser.add_argument("--out", default=str(ROOT / "build" / "bench" / "heal.json"))
    args = parser.parse_args(argv)
    polls = [float(p) for p in args.polls.split(",")]

    work = Path(tempfile.mkdtemp(prefix="bench-heal-"))
    cluster = flinkctl.Cluster(args.version, name="bench-heal-%s" % uuid.uuid4().hex[:6], slots=8)
    cluster.jobs = flinkctl.build_jobs(args.version)
    results = {"version": None, "rate": RATE, "polls": {}, "flink_restart_s": [], "source": {}}
    started = time.time()
    try:
        cluster.start()
        results["version"] = cluster.version
        for rnd in range(args.n):
            down = flink_restart_round(cluster, "bench-heal-flink-%d" % rnd)
            results["flink_restart_s"].append(down)
            log("flink's own restart, round %d: the job paused %.1f s" % (rnd + 1, down))
        for poll in polls:
            names = ["bench-heal-p%s-%d" % (str(poll).replace(".", "-"), rnd) for rnd in range(args.n)]
            rulebook = Rulebook(cluster, names, poll, work)
            try:
                rounds = []
                for name in names:
                    rounds.append(heal_round(cluster, name, rulebook))
                    log("heal with a %.0f s poll: the job paused %.1f s (failure to first record %s s)" % (
                        poll, rounds[-1]["downtime_s"], rounds[-1]["failed_to_first_record_s"]))
                results["polls"][str(poll)] = rounds
            finally:
                rulebook.stop()
        one = "bench-heal-load-0"
        more = [one] + ["bench-heal-load-%d" % i for i in range(1, 4)]
        for name in more:
            start(cluster, name, CHECKPOINTS)
        results["source"]["1_job"] = source_requests(cluster, [one])
        results["source"]["4_jobs"] = source_requests(cluster, more)
        for name in more:
            cancel(cluster, name)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    floor = statistics.median(results["flink_restart_s"])
    results["flink_restart_median_s"] = floor
    print("Flink %s, heal by the self_heal rulebook vs Flink's own restart (median %.1f s), n=%d:"
          % (results["version"], floor, args.n))
    for poll, rounds in results["polls"].items():
        median = statistics.median(r["downtime_s"] for r in rounds)
        print("  poll %4s s: the job paused %.1f s median (%.1fx Flink's restart; %.1f s beyond it)"
              % (poll, median, median / floor, median - floor))
    per_job = (results["source"]["4_jobs"]["per_poll"] - results["source"]["1_job"]["per_poll"]) / 3.0
    results["source"]["per_job_per_poll"] = per_job
    print("  event source: %.1f requests per poll with 1 running job, %.1f with 4: %.1f per job per poll"
          % (results["source"]["1_job"]["per_poll"], results["source"]["4_jobs"]["per_poll"], per_job))
    print("  took %.0f s" % (time.time() - started))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
