# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every part of `make bench` shares: the clusters, the job specs, and running Ansible.

bench/run.py runs the parts (downtime.py, noop.py, upload.py, scale.py) on one Lab.
"""

from __future__ import annotations

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
from pathlib import Path

from flinkops_devkit import flinkctl
from flinkops_devkit.heartbeats import Heartbeats
from flinkops_devkit.rest import Rest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = ROOT / "build" / "bench"

FLINK_VERSION = "2.3"
RATE = 200
HB_EVERY = 2
HEALTH_WINDOW = 1
POLL = 0.02


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


class LoadSampler(threading.Thread):
    """The 1-min load average every 5 s while the bench runs."""

    def __init__(self):
        super().__init__(daemon=True)
        self.samples = []
        self.halt = threading.Event()

    def run(self):
        while not self.halt.wait(5.0):
            self.samples.append((time.time(), os.getloadavg()[0]))


# --------------------------------------------------------------------------- ansible


def ansible_env(extra=None):
    """The environment of ansible-playbook; ``extra`` adds to it (e.g. a state store's credentials)."""
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
    env.update(extra or {})
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


# --------------------------------------------------------------------------- the lab


class Lab:  # pylint: disable=too-many-instance-attributes
    """Two Flink clusters (A for the downtime, no-op and upload parts, B joins for the scale part),
    the sample job's JARs, the observers of cluster A, and how flink_job and the role are run.

    ``state`` holds, per downtime method, the spec its job runs now (name, version, tag, round):
    the downtime part writes it, the no-op and scale parts read it.
    """

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
        self.results = {"meta": {}, "downtime": [], "noop": {}, "upload": {}, "scale": {}, "store": {}}
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

    def flink_job_vars(self, url, name, version, tag, state_check=None, state_store=None):
        """The flink_job.yml playbook's vars; state_check None: the module's default (strict);
        state_store None: the module's default (the JAR store)."""
        variables = {"bench_url": url, "bench_name": name, "bench_jar": self.jar(version),
                     "bench_entry_class": self.entry, "bench_args": self.job_args(name, tag)}
        if state_check is not None:
            variables["bench_state_check"] = state_check
        if state_store is not None:
            variables["bench_state_store"] = state_store
        return variables

    def role_vars(self, url, name, version, tag):
        return {"job_deploy_url": url, "job_deploy_name": name, "job_deploy_jar": self.jar(version),
                "job_deploy_entry_class": self.entry, "job_deploy_args": self.job_args(name, tag),
                "job_deploy_health_window": HEALTH_WINDOW,
                "job_deploy_health_require_checkpoint": False}

    def run_flink_job(self, url, name, version, tag, state_check=None, state_store=None, env=None):
        """One flink_job task; ``env`` adds to ansible-playbook's environment (a store's credentials)."""
        inventory = write_inventory(WORK / "inventory-one.yml", {"localhost": self.flink_job_vars(
            url, name, version, tag, state_check, state_store)})
        return run_playbook(BENCH / "playbooks" / "flink_job.yml", inventory, env=ansible_env(env) if env else None)

    def run_role(self, url, name, version, tag):
        return run_playbook("flinkops.flink.deploy", self.inventory_local,
                            extra_vars=self.role_vars(url, name, version, tag))
