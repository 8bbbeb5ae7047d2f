# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""`make bench`: downtime and cost of a deployment against the floor and the Flink CLI.

Runs on real local Flink clusters (flinkops_devkit.flinkctl): cluster A for the
downtime, no-op and upload measurements, cluster B joins for the scale test.
Writes docs/benchmarks.md and docs/benchmarks-downtime.png (bench/report.py),
and the raw data to build/bench/results.json.

    python bench/run.py [--n 5] [--upload-mb 512] [--only downtime,noop,upload,scale]
    python bench/run.py --report-only build/bench/results.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

from flinkops_devkit import flinkctl
from flinkops_devkit.faultproxy import FaultProxy
from flinkops_devkit.heartbeats import Heartbeats
from flinkops_devkit.observer import RunningObserver, all_running, running_job, wait_running
from flinkops_devkit.rest import Rest

import report

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = ROOT / "build" / "bench"

FLINK_VERSION = "2.3"
METHODS = ("floor", "cli", "flink_job", "role")
RATE = 200
HB_EVERY = 2
HEALTH_WINDOW = 1
POLL = 0.02


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- observers


class LoadSampler(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.samples = []
        self.halt = threading.Event()

    def run(self):
        while not self.halt.wait(5.0):
            self.samples.append((time.time(), os.getloadavg()[0]))


# --------------------------------------------------------------------------- ansible


def ansible_env():
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "build"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_SHOW_CUSTOM_STATS": "false",
    })
    return env


def bin_tool(name):
    return str(Path(sys.executable).parent / name)


def write_inventory(path, hosts):
    """hosts: {name: vars}; every host runs locally."""
    lines = ["all:", "  hosts:"]
    for host, variables in hosts.items():
        lines.append("    %s:" % host)
        merged = dict(variables, ansible_connection="local", ansible_python_interpreter=sys.executable)
        for key, value in merged.items():
            lines.append("      %s: %s" % (key, json.dumps(value)))
    path.write_text("\n".join(lines) + "\n")
    return path


RECAP_RE = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def run_playbook(playbook, inventory, *options, extra_vars=None, env=None):
    cmd = [bin_tool("ansible-playbook"), str(playbook), "-i", str(inventory)] + list(options)
    if extra_vars is not None:
        vars_file = WORK / "vars.json"
        vars_file.write_text(json.dumps(extra_vars))
        cmd += ["-e", "@%s" % vars_file]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env or ansible_env(), timeout=900,
                          check=False)
    wall = time.monotonic() - started
    recap = dict((m[0], {"ok": int(m[1]), "changed": int(m[2]), "failed": int(m[4])})
                 for m in RECAP_RE.findall(proc.stdout))
    if proc.returncode != 0:
        raise RuntimeError("%s failed (rc %s):\n%s\n%s" % (
            " ".join(cmd), proc.returncode, proc.stdout[-4000:], proc.stderr[-2000:]))
    return wall, recap


# --------------------------------------------------------------------------- the bench


class Bench:  # pylint: disable=too-many-instance-attributes
    def __init__(self, args):
        self.args = args
        self.n = args.n
        self.jobs = flinkctl.build_jobs(FLINK_VERSION)
        self.entry = self.jobs["entry_class"]
        self.cluster_a = flinkctl.Cluster(FLINK_VERSION, name="bench-a", slots=8,
                                          extra_config={"rest.server.max-content-length": str(1 << 30)})
        self.cluster_b = flinkctl.Cluster(FLINK_VERSION, name="bench-b", slots=8)
        self.rest = None
        self.hb = None
        self.results = {"meta": {}, "downtime": [], "noop": {}, "upload": {}, "scale": {}}
        self.inventory_local = None
        self.state = {}
        self.jar_ids = {}
        self.load = LoadSampler()

    # -- setup --------------------------------------------------------------
    def start(self):
        if WORK.exists():
            shutil.rmtree(WORK)
        WORK.mkdir(parents=True)
        self.load.start()
        threads = [threading.Thread(target=c.start) for c in (self.cluster_a, self.cluster_b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for cluster in (self.cluster_a, self.cluster_b):
            if not cluster.started or cluster.start_seconds is None:
                raise RuntimeError("cluster %s did not start" % cluster.name)
        self.rest = Rest(self.cluster_a.url)
        self.hb = Heartbeats(self.cluster_a)
        self.inventory_local = write_inventory(WORK / "inventory-local.yml", {"localhost": {}})
        log("clusters up: A %s, B %s" % (self.cluster_a.url, self.cluster_b.url))

    def stop(self):
        self.load.halt.set()
        for cluster in (self.cluster_a, self.cluster_b):
            try:
                cluster.stop()
            except Exception as exc:  # pylint: disable=broad-except
                log("stopping %s failed: %s" % (cluster.name, exc))

    def meta(self):
        config = self.rest.call("GET", "/config")
        mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
        osname = re.search(r'PRETTY_NAME="([^"]*)"', Path("/etc/os-release").read_text())
        core = subprocess.run([bin_tool("ansible-playbook"), "--version"], capture_output=True, text=True,
                              check=False).stdout.splitlines()[0]
        self.results["meta"].update({
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cores": os.cpu_count(),
            "memory_gib": round(mem_kb / 1024 / 1024, 1),
            "cpu": cpu.group(1).strip() if cpu else platform.processor(),
            "os": "%s, kernel %s" % (osname.group(1) if osname else platform.system(), platform.release()),
            "python": platform.python_version(),
            "flink": config.get("flink-version"),
            "ansible_core": core,
            "n": self.n, "rate": RATE, "heartbeat_every": HB_EVERY, "health_window": HEALTH_WINDOW,
            "poll": POLL,
        })

    # -- job specs ------------------------------------------------------------
    def job_args(self, name, tag):
        return ["--name", name, "--tag", tag, "--rate", str(RATE), "--heartbeat-every", str(HB_EVERY)]

    def jar(self, version):
        return self.jobs["stateful-%s" % version]

    def upload_raw(self, version):
        if version not in self.jar_ids:
            status, answer = flinkctl.upload_jar(self.cluster_a.url, self.jar(version))
            if status != 200:
                raise RuntimeError("upload: %s %s" % (status, answer))
            self.jar_ids[version] = answer["filename"].rsplit("/", 1)[-1]
        return self.jar_ids[version]

    def flink_job_vars(self, url, name, version, tag):
        return {"bench_url": url, "bench_name": name, "bench_jar": self.jar(version),
                "bench_entry_class": self.entry, "bench_args": self.job_args(name, tag)}

    def role_vars(self, url, name, version, tag):
        return {"job_deploy_url": url, "job_deploy_name": name, "job_deploy_jar": self.jar(version),
                "job_deploy_entry_class": self.entry, "job_deploy_args": self.job_args(name, tag),
                "job_deploy_health_window": HEALTH_WINDOW,
                "job_deploy_health_require_checkpoint": False}

    def run_flink_job(self, url, name, version, tag):
        inventory = write_inventory(WORK / "inventory-one.yml",
                                    {"localhost": self.flink_job_vars(url, name, version, tag)})
        return run_playbook(BENCH / "playbooks" / "flink_job.yml", inventory)

    def run_role(self, url, name, version, tag):
        return run_playbook("flinkops.flink.deploy", self.inventory_local,
                            extra_vars=self.role_vars(url, name, version, tag))

    # -- the four update methods ----------------------------------------------
    def floor(self, name, version, tag, job_id):
        """Raw REST, JAR already uploaded, 20 ms polls, one keep-alive connection."""
        jar_id = self.upload_raw(version)
        rest = Rest(self.cluster_a.url)
        started = time.monotonic()
        trigger = rest.call("POST", "/jobs/%s/stop" % job_id,
                            {"targetDirectory": self.cluster_a.savepoint_dir.as_uri(), "drain": False})
        while True:
            answer = rest.call("GET", "/jobs/%s/savepoints/%s" % (job_id, trigger["request-id"]))
            if answer["status"]["id"] == "COMPLETED":
                operation = answer["operation"]
                if "location" not in operation:
                    raise RuntimeError("savepoint failed: %s" % operation)
                break
            time.sleep(POLL)
        run = rest.call("POST", "/jars/%s/run" % jar_id,
                        {"entryClass": self.entry, "programArgsList": self.job_args(name, tag),
                         "savepointPath": operation["location"]})
        while True:
            job = next((j for j in rest.call("GET", "/jobs/overview")["jobs"] if j["jid"] == run["jobid"]), None)
            if job and all_running(job):
                break
            time.sleep(POLL)
        wall = time.monotonic() - started
        rest.close()
        return wall

    def cli_env(self):
        env = dict(os.environ)
        env.update({"FLINK_CONF_DIR": str(self.cluster_a.conf_dir), "FLINK_HOME": str(self.cluster_a.home),
                    "FLINK_LOG_DIR": str(WORK / "cli-log")})
        for key in ("FLINK_ENV_JAVA_OPTS", "JVM_ARGS"):
            env.pop(key, None)
        return env

    def cli(self, name, version, tag, job_id):
        flink = str(self.cluster_a.home / "bin" / "flink")
        env = self.cli_env()
        started = time.monotonic()
        stop = subprocess.run([flink, "stop", "--savepointPath", self.cluster_a.savepoint_dir.as_uri(), job_id],
                              capture_output=True, text=True, env=env, timeout=300, check=False)
        match = re.search(r"Savepoint completed\. Path: (\S+)", stop.stdout)
        if stop.returncode != 0 or not match:
            raise RuntimeError("flink stop failed:\n%s\n%s" % (stop.stdout[-3000:], stop.stderr[-3000:]))
        run = subprocess.run([flink, "run", "-d", "-s", match.group(1), "-c", self.entry, self.jar(version)]
                             + self.job_args(name, tag),
                             capture_output=True, text=True, env=env, timeout=300, check=False)
        if run.returncode != 0 or "JobID" not in run.stdout:
            raise RuntimeError("flink run failed:\n%s\n%s" % (run.stdout[-3000:], run.stderr[-3000:]))
        return time.monotonic() - started

    def flink_job(self, name, version, tag, job_id):  # pylint: disable=unused-argument
        wall, recap = self.run_flink_job(self.cluster_a.url, name, version, tag)
        if recap["localhost"]["changed"] != 1:
            raise RuntimeError("flink_job did not change: %s" % recap)
        return wall

    def role(self, name, version, tag, job_id):  # pylint: disable=unused-argument
        wall, recap = self.run_role(self.cluster_a.url, name, version, tag)
        if recap["localhost"]["changed"] < 1:
            raise RuntimeError("the role did not change: %s" % recap)
        return wall

    # -- section 1: downtime ----------------------------------------------------
    def deploy_initial(self, method):
        name = "bench-%s" % method.replace("_", "-")
        tag = "%s-0" % name
        if method in ("floor", "cli"):
            self.rest.call("POST", "/jars/%s/run" % self.upload_raw("v1"),
                           {"entryClass": self.entry, "programArgsList": self.job_args(name, tag)})
        elif method == "flink_job":
            self.run_flink_job(self.cluster_a.url, name, "v1", tag)
        else:
            self.run_role(self.cluster_a.url, name, "v1", tag)
        self.state[method] = {"name": name, "version": "v1", "tag": tag, "round": 0}

    def downtime(self):
        log("downtime: initial deployments")
        self.upload_raw("v2")
        for method in METHODS:
            self.deploy_initial(method)
        for method in METHODS:
            wait_running(self.rest, self.state[method]["name"])
            self.hb.wait(self.state[method]["tag"])
        for rnd in range(1, self.n + 1):
            order = METHODS[(rnd - 1) % len(METHODS):] + METHODS[:(rnd - 1) % len(METHODS)]
            for method in order:
                result = self.measure_update(method, rnd)
                self.results["downtime"].append(result)
                log("round %d %-9s records stopped %6.0f ms, RUNNING gap %6.0f ms, wall %5.2f s, exactly-once %s" % (
                    rnd, method, result["records_stopped_ms"], result["running_gap_ms"], result["wall_s"],
                    result["exactly_once"]))

    def measure_update(self, method, rnd):
        state = self.state[method]
        name, old_tag = state["name"], state["tag"]
        new_version = "v2" if state["version"] == "v1" else "v1"
        new_tag = "%s-%d" % (name, rnd)
        old_job = wait_running(self.rest, name)
        self.hb.wait(old_tag)
        time.sleep(1.0)  # let the old job run a little; a checkpoint may be in flight, as in real life
        observer = RunningObserver(self.cluster_a.url, name)
        observer.start()
        time.sleep(0.2)
        started = time.time()
        wall = getattr(self, method)(name, new_version, new_tag, old_job["jid"])
        new_beats = self.hb.wait(new_tag, span_ms=1000)
        deadline = time.time() + 60
        while not observer.recovered() and time.time() < deadline:
            time.sleep(0.05)
        observer.stop()
        old_beats = self.hb.of(old_tag)
        state.update(version=new_version, tag=new_tag, round=rnd)
        jobs = dict((j["jid"], j) for j in self.rest.call("GET", "/jobs/overview")["jobs"])
        new_job = running_job(self.rest, name)
        old_end = jobs[old_job["jid"]].get("end-time")
        new_start = new_job.get("start-time")
        return self.downtime_result(method, rnd, started, wall, observer, old_beats, new_beats,
                                    old_end, new_start, old_job["jid"], new_job["jid"])

    @staticmethod
    def downtime_result(method, rnd, started, wall, observer, old_beats, new_beats,  # pylint: disable=too-many-arguments
                        old_end, new_start, old_id, new_id):
        last_old, first_new = old_beats[-1], new_beats[0]
        # records stopped: the longest pause between consecutive heartbeats around the update
        window = [b for b in old_beats if b[1] >= started * 1000 - 2000] + \
            [b for b in new_beats if b[1] <= first_new[1] + 2000]
        longest = max(b[1] - a[1] for a, b in zip(window, window[1:]))
        contiguous = all(b[0] - a[0] == HB_EVERY for a, b in zip(old_beats, old_beats[1:])) and \
            all(b[0] - a[0] == HB_EVERY for a, b in zip(new_beats, new_beats[1:]))
        handover = first_new[0] - last_old[0]
        return {
            "method": method, "round": rnd, "wall_s": wall,
            "records_stopped_ms": longest,
            "cross_gap_ms": first_new[1] - last_old[1],
            "running_gap_ms": observer.gap() * 1000,
            "observer_interval_ms": (observer.mean_interval() or 0) * 1000,
            "exactly_once": contiguous and handover == HB_EVERY,
            "last_old_offset": last_old[0], "first_new_offset": first_new[0],
            "before_stop_ms": last_old[1] - started * 1000,
            "stop_phase_ms": (old_end - last_old[1]) if old_end and old_end > 0 else None,
            "handover_ms": (new_start - old_end) if old_end and old_end > 0 and new_start else None,
            "start_phase_ms": (first_new[1] - new_start) if new_start else None,
            "after_start_ms": started * 1000 + wall * 1000 - first_new[1],
            "old_job": old_id, "new_job": new_id,
        }

    # -- section 2: no-op -------------------------------------------------------
    def noop(self):
        log("no-op runs")
        url = self.cluster_a.url
        fj, rl = self.state["flink_job"], self.state["role"]
        runs = {
            "read_only": lambda u: run_playbook(BENCH / "playbooks" / "read_only.yml", write_inventory(
                WORK / "inventory-read.yml", {"localhost": {"bench_url": u}})),
            "flink_job": lambda u: self.run_flink_job(u, fj["name"], fj["version"], fj["tag"]),
            "role": lambda u: self.run_role(u, rl["name"], rl["version"], rl["tag"]),
        }
        walls = dict((key, []) for key in runs)
        changed = dict((key, []) for key in runs)
        for _run in range(self.n):
            for key, func in runs.items():
                wall, recap = func(url)
                walls[key].append(wall)
                changed[key].append(recap["localhost"]["changed"])
        requests_seen = {}
        for key, func in runs.items():
            with FaultProxy(url) as proxy:
                _wall, recap = func(proxy.url)
                requests_seen[key] = [(method, path.split("?")[0]) for method, path in proxy.seen]
                changed[key].append(recap["localhost"]["changed"])
        self.results["noop"] = {"walls": walls, "changed": changed, "requests": requests_seen}
        for key in runs:
            log("no-op %-9s walls %s changed %s requests %d" % (
                key, ["%.2f" % w for w in walls[key]], changed[key], len(requests_seen[key])))

    # -- section 3: upload --------------------------------------------------------
    def make_big_jar(self, path, size_mb):
        """The v1 JAR plus one large stored (uncompressed) entry: a valid JAR of ~size_mb MiB."""
        target = size_mb * 1024 * 1024
        with zipfile.ZipFile(self.jar("v1")) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
            for info in src.infolist():
                out.writestr(info, src.read(info))
            pad = zipfile.ZipInfo("flinkops-bench/padding.bin", (2020, 1, 1, 0, 0, 0))
            pad.compress_type = zipfile.ZIP_STORED
            block = os.urandom(8 << 20)
            remaining = target - os.path.getsize(self.jar("v1")) - 4096
            with out.open(pad, "w", force_zip64=True) as handle:
                while remaining > 0:
                    chunk = block[:min(len(block), remaining)]
                    handle.write(chunk)
                    remaining -= len(chunk)
        return path

    def module_cmd(self, name):
        return [sys.executable, "-m", "ansible_collections.flinkops.flink.plugins.modules." + name]

    def run_module(self, name, params):
        """The module in its own process (as Ansible runs it); returns (wall, max RSS KiB, result)."""
        env = dict(os.environ, PYTHONPATH=str(ROOT / "build") + os.pathsep + os.environ.get("PYTHONPATH", ""))
        rss_file = WORK / "rss.txt"
        started = time.monotonic()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(rss_file)] + self.module_cmd(name),
                              input=json.dumps({"ANSIBLE_MODULE_ARGS": params}), capture_output=True,
                              text=True, env=env, timeout=1800, check=False)
        wall = time.monotonic() - started
        result = json.loads(proc.stdout)
        if proc.returncode != 0 or result.get("failed"):
            raise RuntimeError("%s failed: %s %s" % (name, proc.stdout[-3000:], proc.stderr[-2000:]))
        return wall, int(rss_file.read_text().split()[-1]), result

    def curl_upload(self, path):
        rss_file = WORK / "rss.txt"
        started = time.monotonic()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(rss_file), "curl", "-sS", "--fail",
                               "-F", "jarfile=@%s;type=application/x-java-archive" % path,
                               self.cluster_a.url + "/jars/upload"],
                              capture_output=True, text=True, timeout=1800, check=False)
        wall = time.monotonic() - started
        if proc.returncode != 0:
            raise RuntimeError("curl failed: %s %s" % (proc.stdout[-2000:], proc.stderr[-2000:]))
        jar_id = json.loads(proc.stdout)["filename"].rsplit("/", 1)[-1]
        return wall, int(rss_file.read_text().split()[-1]), jar_id

    def upload(self):
        reps = self.args.upload_n
        log("upload: building a %d MiB JAR" % self.args.upload_mb)
        big = self.make_big_jar(WORK / "bench-big.jar", self.args.upload_mb)
        small = self.make_big_jar(WORK / "bench-small.jar", 4)
        size_mb = os.path.getsize(big) / 1e6
        # PYTHONPATH=build (make bench): the collection's own hashing function
        from ansible_collections.flinkops.flink.plugins.module_utils._spec import sha256_file  # pylint: disable=import-outside-toplevel
        out = {"size_bytes": os.path.getsize(big), "curl": [], "module": [], "module_noop": [],
               "hash_s": [], "small_module": []}
        params = {"url": self.cluster_a.url, "src": str(big), "name": "bench-big"}
        for _rep in range(reps):
            wall, rss, jar_id = self.curl_upload(big)
            out["curl"].append({"wall_s": wall, "rss_kib": rss})
            self.rest.call("DELETE", "/jars/%s" % jar_id)
            wall, rss, result = self.run_module("flink_jar", params)
            out["module"].append({"wall_s": wall, "rss_kib": rss, "changed": result.get("changed")})
            # the same JAR again, already uploaded: module start + hashing + GET /jars, no upload
            wall, rss, again = self.run_module("flink_jar", params)
            out["module_noop"].append({"wall_s": wall, "rss_kib": rss, "changed": again.get("changed")})
            self.rest.call("DELETE", "/jars/%s" % result["jar_id"])
            started = time.monotonic()
            sha256_file(str(big))
            out["hash_s"].append(time.monotonic() - started)
            log("upload: curl %.2fs, flink_jar %.2fs (RSS %d KiB), flink_jar no-op %.2fs, hash %.2fs" % (
                out["curl"][-1]["wall_s"], out["module"][-1]["wall_s"], out["module"][-1]["rss_kib"],
                out["module_noop"][-1]["wall_s"], out["hash_s"][-1]))
        _wall, rss, result = self.run_module("flink_jar", {"url": self.cluster_a.url, "src": str(small),
                                                           "name": "bench-small"})
        out["small_module"].append({"size_bytes": os.path.getsize(small), "rss_kib": rss})
        self.rest.call("DELETE", "/jars/%s" % result["jar_id"])
        leftovers = [j["id"] for j in self.rest.call("GET", "/jars")["files"] if j["name"].startswith("bench-")]
        for jar_id in leftovers:
            self.rest.call("DELETE", "/jars/%s" % jar_id)
        big.unlink()
        small.unlink()
        out["size_mb"] = size_mb
        self.results["upload"] = out

    # -- section 4: scale ---------------------------------------------------------
    def scale(self):
        log("scale: cancelling the downtime jobs on cluster A")
        for method in METHODS:
            job = running_job(self.rest, self.state[method]["name"])
            if job:
                self.rest.call("PATCH", "/jobs/%s?mode=cancel" % job["jid"])
        hosts = {}
        for i in range(8):
            cluster = self.cluster_a if i % 2 == 0 else self.cluster_b
            hosts["scale%d" % i] = {"url": cluster.url, "name": "bench-scale-%d" % i, "version": "v1",
                                    "tag": "bench-scale-%d-0" % i}

        def play(limit=None):
            inventory = write_inventory(WORK / "inventory-scale.yml", dict(
                (h, self.flink_job_vars(v["url"], v["name"], v["version"], v["tag"])) for h, v in hosts.items()))
            options = ["-f", "8"] + (["--limit", limit] if limit else [])
            return run_playbook(BENCH / "playbooks" / "flink_job.yml", inventory, *options)

        def toggle(host, rnd):
            spec = hosts[host]
            spec["version"] = "v2" if spec["version"] == "v1" else "v1"
            spec["tag"] = "%s-%d" % (spec["name"], rnd)

        log("scale: initial deployment of 8 jobs on 2 clusters")
        play()
        out = {"one": [], "eight": []}
        for rnd in range(1, self.args.scale_n + 1):
            toggle("scale0", rnd)
            wall, recap = play(limit="scale0")
            if recap["scale0"]["changed"] != 1:
                raise RuntimeError("scale: one job not updated: %s" % recap)
            out["one"].append(wall)
            for host in hosts:
                toggle(host, rnd + 100)
            wall, recap = play()
            if sum(r["changed"] for r in recap.values()) != 8:
                raise RuntimeError("scale: not all 8 jobs updated: %s" % recap)
            out["eight"].append(wall)
            log("scale round %d: one job %.2fs, eight jobs %.2fs" % (rnd, out["one"][-1], out["eight"][-1]))
        self.results["scale"] = out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--n", type=int, default=int(os.environ.get("BENCH_N", "5")),
                        help="updates per method, and no-op runs per kind (default 5)")
    parser.add_argument("--upload-mb", type=int, default=512)
    parser.add_argument("--upload-n", type=int, default=3, help="uploads per tool (default 3)")
    parser.add_argument("--scale-n", type=int, default=3, help="rounds of the scale test (default 3)")
    parser.add_argument("--only", default="downtime,noop,upload,scale")
    parser.add_argument("--report-only", metavar="RESULTS_JSON")
    parser.add_argument("--docs", default=str(ROOT / "docs"))
    args = parser.parse_args(argv)
    if args.report_only:
        results = json.loads(Path(args.report_only).read_text())
        report.write(results, Path(args.docs))
        return 0
    only = set(args.only.split(","))
    bench = Bench(args)
    started = time.time()
    try:
        bench.start()
        bench.meta()
        if "downtime" in only or "noop" in only:
            bench.downtime()
        if "noop" in only:
            bench.noop()
        if "upload" in only:
            bench.upload()
        if "scale" in only:
            bench.scale()
    finally:
        bench.stop()
    bench.results["meta"]["load"] = [s[1] for s in bench.load.samples]
    bench.results["meta"]["duration_s"] = time.time() - started
    (WORK / "results.json").write_text(json.dumps(bench.results, indent=1) + "\n")
    report.write(bench.results, Path(args.docs))
    log("wrote %s/benchmarks.md and results %s" % (args.docs, WORK / "results.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
