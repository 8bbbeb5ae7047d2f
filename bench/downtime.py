# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Part 1 of `make bench`: the downtime of an update, per method, against the floor and the Flink CLI.

Each method has its own job on cluster A and updates it (v1 <-> v2, from a stop-with-savepoint)
once per round; the methods take turns, the order rotating every round. Observers independent of
the method measure each update: the job's heartbeats (records stopped) and a 20 ms poll of
/jobs/overview (RUNNING gap).

flink_job runs twice over: with its state-compatibility pre-check (state_check: strict, the
default) and without it (state_check: off). The check runs before the stop, so it must not add
to the records stopped (issue 17). After the rounds, one more update of each goes through a
recording proxy: the REST requests each sends before the stop show what the check costs.

The store part (bench/store.py) runs the same rounds for flink_job with a durable
``state_store`` (STORE_METHODS) beside the floor: ``Downtime(lab, store_urls, store_env).rounds``.
"""

from __future__ import annotations

import os
import re
import subprocess
import time

from flinkops_devkit.faultproxy import FaultProxy
from flinkops_devkit.observer import RunningObserver, all_running, running_job, wait_running
from flinkops_devkit.rest import Rest

from lab import HB_EVERY, POLL, WORK, log

METHODS = ("floor", "cli", "flink_job", "flink_job_check_off", "role")
# flink_job's state_check per method (None: the module's default, strict)
STATE_CHECK = {"flink_job": None, "flink_job_check_off": "off"}
# flink_job with a durable state store (bench/store.py), per method: the store kind
STORE_METHODS = {"flink_job_zookeeper": "zookeeper", "flink_job_s3": "s3", "flink_job_postgresql": "postgresql"}


class Downtime:
    """The update methods, and the rounds that measure them on one Lab."""

    def __init__(self, lab, store_urls=None, store_env=None):
        self.lab = lab
        # store kind -> state_store URL, and what a module process needs to reach them (STORE_METHODS)
        self.store_urls = store_urls or {}
        self.store_env = store_env or {}

    # -- the update methods: (name, version, tag, id of the old job) -> wall seconds --------
    def floor(self, name, version, tag, job_id):
        """Raw REST, JAR already uploaded, 20 ms polls, one keep-alive connection."""
        lab = self.lab
        jar_id = lab.upload_raw(version)
        rest = Rest(lab.cluster_a.url)
        started = time.monotonic()
        trigger = rest.call("POST", "/jobs/%s/stop" % job_id,
                            {"targetDirectory": lab.cluster_a.savepoint_dir.as_uri(), "drain": False})
        while True:
            answer = rest.call("GET", "/jobs/%s/savepoints/%s" % (job_id, trigger["request-id"]))
            if answer["status"]["id"] == "COMPLETED":
                operation = answer["operation"]
                if "location" not in operation:
                    raise RuntimeError("savepoint failed: %s" % operation)
                break
            time.sleep(POLL)
        run = rest.call("POST", "/jars/%s/run" % jar_id,
                        {"entryClass": lab.entry, "programArgsList": lab.job_args(name, tag),
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
        cluster = self.lab.cluster_a
        env = dict(os.environ)
        env.update({"FLINK_CONF_DIR": str(cluster.conf_dir), "FLINK_HOME": str(cluster.home),
                    "FLINK_LOG_DIR": str(WORK / "cli-log")})
        for key in ("FLINK_ENV_JAVA_OPTS", "JVM_ARGS"):
            env.pop(key, None)
        return env

    def cli(self, name, version, tag, job_id):
        lab = self.lab
        flink = str(lab.cluster_a.home / "bin" / "flink")
        env = self.cli_env()
        started = time.monotonic()
        stop = subprocess.run([flink, "stop", "--savepointPath", lab.cluster_a.savepoint_dir.as_uri(), job_id],
                              capture_output=True, text=True, env=env, timeout=300, check=False)
        match = re.search(r"Savepoint completed\. Path: (\S+)", stop.stdout)
        if stop.returncode != 0 or not match:
            raise RuntimeError("flink stop failed:\n%s\n%s" % (stop.stdout[-3000:], stop.stderr[-3000:]))
        run = subprocess.run([flink, "run", "-d", "-s", match.group(1), "-c", lab.entry, lab.jar(version)]
                             + lab.job_args(name, tag),
                             capture_output=True, text=True, env=env, timeout=300, check=False)
        if run.returncode != 0 or "JobID" not in run.stdout:
            raise RuntimeError("flink run failed:\n%s\n%s" % (run.stdout[-3000:], run.stderr[-3000:]))
        return time.monotonic() - started

    def flink_job(self, name, version, tag, job_id, state_check=None,  # pylint: disable=unused-argument,too-many-arguments
                  state_store=None):
        wall, recap = self.lab.run_flink_job(self.lab.cluster_a.url, name, version, tag, state_check,
                                             state_store=state_store, env=self.store_env if state_store else None)
        if recap["localhost"]["changed"] != 1:
            raise RuntimeError("flink_job did not change: %s" % recap)
        return wall

    def flink_job_zookeeper(self, name, version, tag, job_id):
        """flink_job with state_store: zookeeper://..."""
        return self.flink_job(name, version, tag, job_id, state_store=self.store_urls["zookeeper"])

    def flink_job_s3(self, name, version, tag, job_id):
        """flink_job with state_store: s3://... (SeaweedFS)"""
        return self.flink_job(name, version, tag, job_id, state_store=self.store_urls["s3"])

    def flink_job_postgresql(self, name, version, tag, job_id):
        """flink_job with state_store: postgresql://..."""
        return self.flink_job(name, version, tag, job_id, state_store=self.store_urls["postgresql"])

    def flink_job_check_off(self, name, version, tag, job_id):
        """flink_job without the state-compatibility pre-check (state_check: off)."""
        return self.flink_job(name, version, tag, job_id, state_check=STATE_CHECK["flink_job_check_off"])

    def role(self, name, version, tag, job_id):  # pylint: disable=unused-argument
        wall, recap = self.lab.run_role(self.lab.cluster_a.url, name, version, tag)
        if recap["localhost"]["changed"] < 1:
            raise RuntimeError("the role did not change: %s" % recap)
        return wall

    # -- the rounds ------------------------------------------------------------
    def deploy_initial(self, method):
        lab = self.lab
        name = "bench-%s" % method.replace("_", "-")
        tag = "%s-0" % name
        if method in ("floor", "cli"):
            lab.rest.call("POST", "/jars/%s/run" % lab.upload_raw("v1"),
                          {"entryClass": lab.entry, "programArgsList": lab.job_args(name, tag)})
        elif method in STATE_CHECK:
            lab.run_flink_job(lab.cluster_a.url, name, "v1", tag, STATE_CHECK[method])
        elif method in STORE_METHODS:
            lab.run_flink_job(lab.cluster_a.url, name, "v1", tag, state_store=self.store_urls[STORE_METHODS[method]],
                              env=self.store_env)
        else:
            lab.run_role(lab.cluster_a.url, name, "v1", tag)
        lab.state[method] = {"name": name, "version": "v1", "tag": tag, "round": 0}

    def run(self):
        self.rounds(METHODS, self.lab.results["downtime"])
        self.count_precheck_requests()

    def rounds(self, methods, into, label=""):
        """Deploy the jobs of ``methods`` not deployed yet, then N rounds of one update per method
        (the order rotating every round), each update's numbers appended to ``into``; ``label``
        goes into the updates' tags (a job updated by an earlier part needs new ones)."""
        lab = self.lab
        log("downtime: initial deployments")
        lab.upload_raw("v2")
        new = [method for method in methods if method not in lab.state]
        for method in new:
            self.deploy_initial(method)
        for method in new:
            wait_running(lab.rest, lab.state[method]["name"])
            lab.hb.wait(lab.state[method]["tag"])
        for rnd in range(1, lab.n + 1):
            order = methods[(rnd - 1) % len(methods):] + methods[:(rnd - 1) % len(methods)]
            for method in order:
                result = self.measure_update(method, rnd, label)
                into.append(result)
                log("round %d %-20s records stopped %6.0f ms, RUNNING gap %6.0f ms, wall %5.2f s, exactly-once %s" % (
                    rnd, method, result["records_stopped_ms"], result["running_gap_ms"], result["wall_s"],
                    result["exactly_once"]))

    def count_precheck_requests(self):
        """One more update by each flink_job method, through a proxy that records every request
        (not measured for downtime): results["precheck"]["requests"][method] = [(method, path)]."""
        lab = self.lab
        seen = {}
        for method, state_check in STATE_CHECK.items():
            state = lab.state[method]
            wait_running(lab.rest, state["name"])
            lab.hb.wait(state["tag"], span_ms=3000)  # checkpoints every second: the check has one to read
            version = "v2" if state["version"] == "v1" else "v1"
            tag = "%s-counted" % state["name"]
            with FaultProxy(lab.cluster_a.url) as proxy:
                _wall, recap = lab.run_flink_job(proxy.url, state["name"], version, tag, state_check)
                seen[method] = [(verb, path.split("?")[0]) for verb, path in proxy.seen]
            if recap["localhost"]["changed"] != 1:
                raise RuntimeError("%s did not change: %s" % (method, recap))
            lab.hb.wait(tag)
            state.update(version=version, tag=tag)
            log("pre-check cost: %s sent %d requests in its update" % (method, len(seen[method])))
        lab.results["precheck"] = {"requests": seen}

    def measure_update(self, method, rnd, label=""):
        lab = self.lab
        state = lab.state[method]
        name, old_tag = state["name"], state["tag"]
        new_version = "v2" if state["version"] == "v1" else "v1"
        new_tag = "%s-%s%d" % (name, label, rnd)
        old_job = wait_running(lab.rest, name)
        lab.hb.wait(old_tag)
        time.sleep(1.0)  # let the old job run a little; a checkpoint may be in flight, as in real life
        observer = RunningObserver(lab.cluster_a.url, name)
        observer.start()
        time.sleep(0.2)
        started = time.time()
        wall = getattr(self, method)(name, new_version, new_tag, old_job["jid"])
        new_beats = lab.hb.wait(new_tag, span_ms=1000)
        deadline = time.time() + 60
        while not observer.recovered() and time.time() < deadline:
            time.sleep(0.05)
        observer.stop()
        old_beats = lab.hb.of(old_tag)
        state.update(version=new_version, tag=new_tag, round=rnd)
        jobs = dict((j["jid"], j) for j in lab.rest.call("GET", "/jobs/overview")["jobs"])
        new_job = running_job(lab.rest, name)
        old_end = jobs[old_job["jid"]].get("end-time")
        new_start = new_job.get("start-time")
        return downtime_result(method, rnd, started, wall, observer, old_beats, new_beats,
                               old_end, new_start, old_job["jid"], new_job["jid"])


def downtime_result(method, rnd, started, wall, observer, old_beats, new_beats,  # pylint: disable=too-many-arguments
                    old_end, new_start, old_id, new_id):
    """One update's numbers, from the heartbeats around it and Flink's own timestamps."""
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
