# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""`make bench-state`: downtime of each upgrade strategy against the size of the keyed state.

One real local Flink cluster with RocksDB (incremental checkpoints, retained on cancel), and, for
the in-place rescale, a second one with the adaptive scheduler (started after the first stopped).
For every state size and every strategy, the same step is done twice on a freshly filled job:
once by Flink's own floor (raw REST, JAR already uploaded, 20 ms polls) and once by flink_job.

    strategy             floor (raw REST)                                        flink_job
    savepoint-canonical  POST /stop (CANONICAL) -> run from it                   upgrade_mode=savepoint
    savepoint-native     POST /stop (NATIVE) -> run from it                      savepoint_format=native
    last-state           PATCH cancel -> run from the latest checkpoint          upgrade_mode=last-state
    blue-green           POST /savepoints (job keeps running) -> run green ->    upgrade_mode=blue-green
                         all RUNNING -> caught up (pendingRecords) -> POST /stop blue
    in-place-rescale     PUT /resource-requirements 1 -> 2, wait                 rescale_mode=in-place

Measured from the job's own heartbeats (bench job org.flinkops.bench.StateSizeJob, one line every
HB_EVERY offsets, all jobs of one deployment print the same tag):
- records stopped: the longest time around the step in which no new offset was processed (ms;
  a replay of records already processed does not count as progress);
- records processed twice: heartbeat offsets printed more than once, times HB_EVERY;
- wall time of the step.
A strategy that flink_job does not offer (yet) is measured by its floor only and says so.

    python bench/state_size.py [--sizes 0.1,1] [--version 2.3] [--only blue-green,...]
    python bench/state_size.py --report-only build/bench-state/results.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from flinkops_devkit import flinkctl
from flinkops_devkit.heartbeats import Heartbeats
from flinkops_devkit.rest import Rest

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "bench-state"

ENTRY = "org.flinkops.bench.StateSizeJob"
STRATEGIES = ("savepoint-canonical", "savepoint-native", "last-state", "blue-green", "in-place-rescale")
BYTES_PER_KEY = 1024
MAX_KEYS = 100_000
RATE = 200
HB_EVERY = 2
POLL = 0.02
TERMINAL = ("FINISHED", "CANCELED", "FAILED")
CLUSTER_CONFIG = {
    "state.backend.type": "rocksdb",
    "state.backend.incremental": "true",
    "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
    "taskmanager.memory.managed.fraction": "0.4",
}


def log(msg):
    print("[bench-state %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- raw REST: the floor


def wait_operation(rest, path, timeout=3600):
    """Poll an asynchronous operation until COMPLETED; its ``operation`` (location or failure)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        answer = rest.call("GET", path)
        if answer["status"]["id"] == "COMPLETED":
            operation = answer.get("operation") or {}
            if "failure-cause" in operation:
                raise RuntimeError("%s failed: %s" % (path, str(operation["failure-cause"])[:2000]))
            return operation
        time.sleep(POLL)
    raise RuntimeError("%s: no answer after %ss" % (path, timeout))


def overview(rest, job_id):
    return next((j for j in rest.call("GET", "/jobs/overview")["jobs"] if j["jid"] == job_id), None)


def wait_all_running(rest, job_id, total=None, timeout=600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = overview(rest, job_id)
        if job and job["state"] == "RUNNING":
            tasks = job["tasks"]
            healthy = tasks["running"] + tasks.get("finished", 0) == tasks["total"] > 0
            if healthy and (total is None or tasks["total"] == total) and tasks["running"] > 0:
                return job
        time.sleep(POLL)
    raise RuntimeError("job %s not all RUNNING (total %s) after %ss" % (job_id, total, timeout))


def wait_terminal(rest, job_id, timeout=600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = overview(rest, job_id)
        if job and job["state"] in TERMINAL:
            return job["state"]
        time.sleep(POLL)
    raise RuntimeError("job %s not terminal after %ss" % (job_id, timeout))


def run_body(args, savepoint=None, parallelism=None):
    body = {"entryClass": ENTRY, "programArgsList": args, "jobId": uuid.uuid4().hex}
    if savepoint:
        body["savepointPath"] = savepoint
    if parallelism:
        body["parallelism"] = parallelism
    return body


def floor_stop_and_run(rest, ctx, fmt):
    trigger = rest.call("POST", "/jobs/%s/stop" % ctx["job_id"], {
        "targetDirectory": ctx["savepoint_dir"], "drain": False, "formatType": fmt})
    location = wait_operation(rest, "/jobs/%s/savepoints/%s" % (ctx["job_id"], trigger["request-id"]))["location"]
    run = rest.call("POST", "/jars/%s/run" % ctx["jar_v2"], run_body(ctx["args"], location))
    wait_all_running(rest, run["jobid"])
    return {"new_job": run["jobid"], "savepoint": location}


def floor_last_state(rest, ctx):
    rest.call("PATCH", "/jobs/%s?mode=cancel" % ctx["job_id"])
    wait_terminal(rest, ctx["job_id"])
    path = None
    deadline = time.time() + 30
    while not path and time.time() < deadline:
        latest = rest.call("GET", "/jobs/%s/checkpoints" % ctx["job_id"]).get("latest") or {}
        path = (latest.get("completed") or {}).get("external_path")
        if not path:
            time.sleep(POLL)
    run = rest.call("POST", "/jars/%s/run" % ctx["jar_v2"], run_body(ctx["args"], path))
    wait_all_running(rest, run["jobid"])
    return {"new_job": run["jobid"], "checkpoint": path}


def floor_blue_green(rest, ctx):
    """Savepoint of blue without stopping it, green from it, then blue stopped with a final savepoint."""
    blue = ctx["job_id"]
    trigger = rest.call("POST", "/jobs/%s/savepoints" % blue, {
        "target-directory": ctx["savepoint_dir"], "cancel-job": False, "formatType": "CANONICAL"})
    location = wait_operation(rest, "/jobs/%s/savepoints/%s" % (blue, trigger["request-id"]))["location"]
    run = rest.call("POST", "/jars/%s/run" % ctx["jar_v2"], run_body(ctx["args"], location))
    green_started = time.time()
    wait_all_running(rest, run["jobid"])
    wait_caught_up(rest, run["jobid"], blue)
    stop = rest.call("POST", "/jobs/%s/stop" % blue, {"targetDirectory": ctx["savepoint_dir"], "drain": False})
    final = wait_operation(rest, "/jobs/%s/savepoints/%s" % (blue, stop["request-id"]))["location"]
    return {"new_job": run["jobid"], "savepoint": location, "final_savepoint": final,
            "overlap_s": time.time() - green_started}


def pending_records(rest, job_id):
    """The job's FLIP-33 pendingRecords, summed over its vertices (None until Flink lists it)."""
    total, found = 0.0, False
    for vertex in rest.call("GET", "/jobs/%s" % job_id)["vertices"]:
        path = "/jobs/%s/vertices/%s/subtasks/metrics" % (job_id, vertex["id"])
        names = [m["id"] for m in rest.call("GET", path) if m["id"].endswith(".pendingRecords")]
        if names:
            found = True
            total += sum(float(v["sum"]) for v in rest.call("GET", "%s?get=%s&agg=sum" % (path, ",".join(names))))
    return total if found else None


def wait_caught_up(rest, green, blue, timeout=600):
    """The same step as flink_job's: green within 100 pending records of blue (the bench job
    reports pendingRecords), else blue would stop while green still catches up."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        green_pending, blue_pending = pending_records(rest, green), pending_records(rest, blue)
        if green_pending is not None and blue_pending is not None and green_pending <= blue_pending + 100:
            return
        time.sleep(0.5)
    raise RuntimeError("green %s did not catch up with blue %s" % (green, blue))


def vertex_parallelism(rest, job_id):
    return [v["parallelism"] for v in rest.call("GET", "/jobs/%s" % job_id)["vertices"]]


def floor_rescale(rest, ctx, target=2):
    """Raise every vertex's upper bound to the target; done when all tasks run at it."""
    job_id = ctx["job_id"]
    requirements = rest.call("GET", "/jobs/%s/resource-requirements" % job_id)
    for vertex in requirements.values():
        vertex["parallelism"]["upperBound"] = target
        vertex["parallelism"]["lowerBound"] = min(vertex["parallelism"]["lowerBound"], target)
    rest.call("PUT", "/jobs/%s/resource-requirements" % job_id, requirements)
    wait_all_running(rest, job_id, total=target * len(requirements))
    return {"new_job": job_id, "parallelism": vertex_parallelism(rest, job_id)}


def progress_stall(beats):
    """Records stopped: the longest time no NEW offset was processed (ms), from heartbeats sorted
    by time. A job replaying records it already processed (restored from a checkpoint, or green
    catching up) makes no progress, so replays count as stopped until the stream is caught up."""
    longest, newest, since = None, -1, None
    for offset, ts, _version in beats:
        if offset > newest:
            if since is not None:
                longest = max(longest or 0, ts - since)
            newest, since = offset, ts
    return longest


# --------------------------------------------------------------------------- flink_job


def module_supports(option, value):
    # flink_job's options live in _job_options (shared with flink_jobs) since it was split out
    text = "".join((ROOT / "plugins" / path).read_text() for path in (
        "modules/flink_job.py", "module_utils/_job_options.py"))
    return "%s=dict(" % option in text and '"%s"' % value in text


COLLECTIONS = {"path": ROOT / "build"}


def run_module(params):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(COLLECTIONS["path"]) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-m", "ansible_collections.flinkops.flink.plugins.modules.flink_job"],
        input=json.dumps({"ANSIBLE_MODULE_ARGS": params}), capture_output=True, text=True,
        env=env, timeout=3600, check=False)
    try:
        result = json.loads(proc.stdout)
    except ValueError as exc:
        raise RuntimeError("flink_job printed no JSON: %s %s" % (proc.stdout[-2000:], proc.stderr[-2000:])) from exc
    if result.get("failed"):
        raise RuntimeError("flink_job failed: %s" % result.get("msg"))
    return result


MODULE_OPTIONS = {
    "savepoint-canonical": dict(upgrade_mode="savepoint", savepoint_format="canonical"),
    "savepoint-native": dict(upgrade_mode="savepoint", savepoint_format="native"),
    "last-state": dict(upgrade_mode="last-state"),
    "blue-green": dict(upgrade_mode="blue-green"),
    "in-place-rescale": dict(rescale_mode="in-place", parallelism=2),
}
MODULE_SUPPORT = {"blue-green": ("upgrade_mode", "blue-green"), "in-place-rescale": ("rescale_mode", "in-place")}


# --------------------------------------------------------------------------- one measurement


class StateBench:  # pylint: disable=too-many-instance-attributes
    def __init__(self, args):
        self.args = args
        self.jobs = flinkctl.build_jobs(args.version)
        self.results = {"meta": {}, "runs": []}
        self.cluster = None
        self.rest = None
        self.hb = None
        self.jar_ids = {}
        self.kept = []

    def start_cluster(self, adaptive):
        config = dict(CLUSTER_CONFIG)
        if adaptive:
            config["jobmanager.scheduler"] = "adaptive"
        self.cluster = flinkctl.Cluster(self.args.version, name="bench-state-%s" % ("adaptive" if adaptive else "default"),
                                        slots=4, tm_memory=self.args.tm_memory, extra_config=config)
        self.cluster.start(timeout=600)  # the machine may be busy: JVMs start slowly
        self.rest = Rest(self.cluster.url)
        self.hb = Heartbeats(self.cluster)
        self.jar_ids = {}
        for version in ("v1", "v2"):
            status, answer = flinkctl.upload_jar(self.cluster.url, self.jobs["stateful-%s" % version])
            if status != 200:
                raise RuntimeError("upload: %s %s" % (status, answer))
            self.jar_ids[version] = answer["filename"].rsplit("/", 1)[-1]
        log("cluster %s up at %s (adaptive=%s)" % (self.cluster.name, self.cluster.url, adaptive))

    def stop_cluster(self):
        if self.rest is not None:
            self.rest.close()
            self.rest = None
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None

    def filled(self, tag, timeout):
        deadline = time.time() + timeout
        needle = "FLINKOPS FILLED"
        while time.time() < deadline:
            for path in self.cluster.log_dir.glob("*taskexecutor*.out*"):
                with open(path, "rb") as handle:
                    for line in handle:
                        if line.startswith(needle.encode()) and line.rstrip().endswith(("tag=" + tag).encode()):
                            return
            time.sleep(1)
        raise RuntimeError("state of %s not filled after %ss" % (tag, timeout))

    def checkpoint_after(self, job_id, after_ms, timeout=1800):
        deadline = time.time() + timeout
        while time.time() < deadline:
            latest = (self.rest.call("GET", "/jobs/%s/checkpoints" % job_id).get("latest") or {}).get("completed")
            if latest and latest.get("latest_ack_timestamp", 0) > after_ms:
                return latest
            time.sleep(1)
        raise RuntimeError("no checkpoint of %s after %s" % (job_id, after_ms))

    def measure(self, size_gb, strategy, method):  # pylint: disable=too-many-locals
        # At most MAX_KEYS keys, larger values beyond: the fill and the per-key cost of a
        # savepoint stay bounded while the bytes grow.
        keys = max(1, min(MAX_KEYS, int(size_gb * 1e9 / BYTES_PER_KEY)))
        bytes_per_key = int(size_gb * 1e9 / keys)
        name = "bench-%s-%s-%s" % (strategy, method, str(size_gb).replace(".", "_"))
        tag = name
        args = ["--name", name, "--tag", tag, "--rate", str(RATE), "--keys", str(keys),
                "--bytes-per-key", str(bytes_per_key), "--heartbeat-every", str(HB_EVERY),
                "--checkpoint-interval", str(self.args.checkpoint_interval)]
        base = dict(url=self.cluster.url, name=name, entry_class=ENTRY, args=args,
                    savepoint_timeout=3600, wait_timeout=900)
        if method == "module":
            first = run_module(dict(base, jar=self.jobs["stateful-v1"], parallelism=1))
            job_id = first["job_id"]
        else:
            job_id = self.rest.call("POST", "/jars/%s/run" % self.jar_ids["v1"], run_body(args, parallelism=1))["jobid"]
        started_job = time.time()
        self.filled(tag, timeout=1800)
        filled_at = time.time()
        checkpoint = self.checkpoint_after(job_id, filled_at * 1000)
        self.hb.wait(tag, span_ms=1000)
        if strategy == "in-place-rescale":
            # Flink 2.x does not rescale within 30 s of a job's start (scaling-interval.min)
            time.sleep(max(0.0, started_job + 35 - time.time()))
        time.sleep(1.0)
        ctx = {"job_id": job_id, "args": args, "jar_v2": self.jar_ids["v2"],
               "savepoint_dir": self.cluster.savepoint_dir.as_uri()}
        before = len(self.hb.of(tag))
        started = time.time()
        t0 = time.monotonic()
        if method == "floor":
            detail = {
                "savepoint-canonical": lambda: floor_stop_and_run(self.rest, ctx, "CANONICAL"),
                "savepoint-native": lambda: floor_stop_and_run(self.rest, ctx, "NATIVE"),
                "last-state": lambda: floor_last_state(self.rest, ctx),
                "blue-green": lambda: floor_blue_green(self.rest, ctx),
                "in-place-rescale": lambda: floor_rescale(self.rest, ctx),
            }[strategy]()
        else:
            jar = self.jobs["stateful-v1" if strategy == "in-place-rescale" else "stateful-v2"]
            result = run_module({**base, "jar": jar, "parallelism": 1, **MODULE_OPTIONS[strategy]})
            detail = {k: result.get(k) for k in ("action", "job_id", "previous_job_id", "savepoint", "restored_from",
                                                 "overlap_seconds", "catch_up", "rescaled", "rescale_fallback") if k in result}
        wall = time.monotonic() - t0
        # Wait until the stream makes progress again (a restored job first replays what was
        # processed already), then a little more, so the stall ends inside the window.
        newest = max(b[0] for b in self.hb.of(tag))
        deadline = time.time() + 300
        while time.time() < deadline and max(b[0] for b in self.hb.of(tag)) <= newest:
            time.sleep(0.2)
        time.sleep(2.0)
        beats = self.hb.of(tag)
        window = sorted((b for b in beats[max(0, before - 200):] if b[1] >= started * 1000 - 2000),
                        key=lambda b: b[1])
        longest, pause_any = progress_stall(window), \
            max((b[1] - a[1] for a, b in zip(window, window[1:])), default=None)
        # the raw heartbeats around the step, to check any number of the table by hand
        (WORK / "beats").mkdir(parents=True, exist_ok=True)
        (WORK / "beats" / ("%s.json" % name)).write_text(json.dumps({"started_ms": started * 1000, "beats": window}))
        offsets = [b[0] for b in beats]
        twice = (len(offsets) - len(set(offsets))) * HB_EVERY
        entry = {"size_gb": size_gb, "strategy": strategy, "method": method, "keys": keys,
                 "bytes_per_key": bytes_per_key,
                 "state_bytes": checkpoint.get("state_size") or checkpoint.get("checkpointed_size"),
                 "checkpoint_duration_ms": checkpoint.get("end_to_end_duration"),
                 "fill_s": round(filled_at - started_job, 1),
                 "records_stopped_ms": longest, "output_pause_ms": pause_any, "records_twice": twice, "wall_s": round(wall, 2),
                 "detail": detail}
        self.results["runs"].append(entry)
        log("%-20s %-6s %5s GB: records stopped %s ms, twice %s, wall %.2f s" % (
            strategy, method, size_gb, longest, twice, wall))
        self.cleanup(name)
        self.save()

    def cleanup(self, name):
        for job in self.rest.call("GET", "/jobs/overview")["jobs"]:
            if job["name"] == name and job["state"] not in TERMINAL:
                self.rest.call("PATCH", "/jobs/%s?mode=cancel" % job["jid"])
                wait_terminal(self.rest, job["jid"])
        # Free the disk: the measurements of one size never need each other's state.
        for directory in (self.cluster.savepoint_dir, self.cluster.checkpoint_dir):
            for child in directory.iterdir() if directory.exists() else ():
                shutil.rmtree(child, ignore_errors=True)

    def save(self):
        WORK.mkdir(parents=True, exist_ok=True)
        saved = dict(self.results, runs=self.kept + self.results["runs"])
        (WORK / "results.json").write_text(json.dumps(saved, indent=1))

    def run(self):
        sizes = [float(s) for s in self.args.sizes.split(",")]
        only = self.args.only.split(",") if self.args.only else STRATEGIES
        methods = ("floor",) if self.args.floor_only else ("floor", "module")
        self.results["meta"] = {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "flink": flinkctl.resolve_version(self.args.version), "cores": os.cpu_count(),
            "load_at_start": os.getloadavg()[0], "rate": RATE, "heartbeat_every": HB_EVERY,
            "bytes_per_key": BYTES_PER_KEY, "checkpoint_interval_ms": self.args.checkpoint_interval,
            "tm_memory": self.args.tm_memory, "sizes_gb": sizes}
        for adaptive in (False, True):
            todo = [s for s in only if (s == "in-place-rescale") == adaptive]
            if not todo:
                continue
            self.start_cluster(adaptive)
            try:
                for size in sizes:
                    for strategy in todo:
                        for method in methods:
                            if method == "module" and strategy in MODULE_SUPPORT and \
                                    not module_supports(*MODULE_SUPPORT[strategy]):
                                log("%s: flink_job does not offer it yet, floor only" % strategy)
                                continue
                            try:
                                self.measure(size, strategy, method)
                            except Exception as exc:  # pylint: disable=broad-except
                                log("%s %s %s GB FAILED: %s" % (strategy, method, size, exc))
                                self.results["runs"].append({"size_gb": size, "strategy": strategy,
                                                             "method": method, "error": str(exc)[:2000]})
                                self.cleanup("bench-%s-%s-%s" % (strategy, method, str(size).replace(".", "_")))
                                self.save()
            finally:
                self.stop_cluster()
        self.results["meta"]["load_at_end"] = os.getloadavg()[0]
        self.save()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--sizes", default="0.1,1", help="state sizes in GB, comma-separated")
    parser.add_argument("--version", default="2.3")
    parser.add_argument("--only", default="", help="strategies, comma-separated (default: all)")
    parser.add_argument("--floor-only", action="store_true", help="raw REST only (verifies the REST flows)")
    parser.add_argument("--checkpoint-interval", type=int, default=5000)
    parser.add_argument("--tm-memory", default="3072m")
    parser.add_argument("--collections-path", default=str(ROOT / "build"),
                        help="directory holding ansible_collections/ (a snapshot keeps a long run stable)")
    parser.add_argument("--merge", action="store_true",
                        help="keep the runs of build/bench-state/results.json that this run does not measure again")
    parser.add_argument("--report-only", help="results.json to render without measuring")
    args = parser.parse_args(argv)
    COLLECTIONS["path"] = Path(args.collections_path)
    if args.report_only:
        results = json.loads(Path(args.report_only).read_text())
    else:
        bench = StateBench(args)
        if args.merge and (WORK / "results.json").exists():
            only = args.only.split(",") if args.only else STRATEGIES
            earlier = json.loads((WORK / "results.json").read_text())
            sizes = [float(x) for x in args.sizes.split(",")]
            bench.kept = [dict(r, earlier=True) for r in earlier["runs"]
                          if r["strategy"] not in only or r["size_gb"] not in sizes]
            bench.results["meta_earlier"] = earlier["meta"]
        try:
            bench.run()
        finally:
            bench.stop_cluster()
        results = dict(bench.results, runs=bench.kept + bench.results["runs"])
    import state_report  # pylint: disable=import-outside-toplevel
    state_report.write(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
