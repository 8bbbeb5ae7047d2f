# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A Flink cluster seen from outside the collection: raw REST reads and the sample job's output.

    Flink(cluster)           the tests' view of a cluster (fixture ``flink``): jobs by name, the
                             sample job's COUNT and HB lines, checkpoints, what a job restored from
    RunningObserver(url, name)
                             a thread polling /jobs/overview every 20 ms: when was no job of that
                             name all-tasks-RUNNING (the benchmarks' RUNNING gap)
    all_running(job), running_job(rest, name), wait_running(rest, name)
                             one /jobs/overview entry, read with a flinkops_devkit.rest.Rest
"""

from __future__ import annotations

import http.client
import re
import threading
import time

from flinkops_devkit.rest import Rest, RestError, rest

ACTIVE = ("INITIALIZING", "CREATED", "RUNNING", "FAILING", "CANCELLING", "RESTARTING",
          "RECONCILING", "SUSPENDED")
_COUNT = re.compile(r"FLINKOPS COUNT key=(\d+) count=(\d+) offset=(\d+) version=(\S+) tag=(.*)$")
_HB = re.compile(r"FLINKOPS HB offset=(\d+) ts=(\d+) version=(\S+) tag=(.*)$")


def _lines_of(pattern, tag):
    """``pattern``'s lines of one tag, found in one pass over the whole output: the waits read
    a shared TaskManager's output (megabytes late in a session) twice a second."""
    return re.compile(pattern.pattern.replace("tag=(.*)$", "tag=(%s)$" % re.escape(tag)), re.M)


class Flink:
    """A cluster seen from outside: raw REST reads, never through the modules under test."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.url = cluster.url
        self.jobs = cluster.jobs
        self.entry_class = cluster.jobs["entry_class"]
        self.context = getattr(cluster, "rest_ssl_context", None)

    def get(self, path):
        status, answer = rest(self.url, "GET", path, timeout=30, context=self.context)
        if status >= 300:
            raise RestError("GET", path, status, answer)
        return answer

    def jobs_named(self, name, states=None):
        return [job for job in self.get("/jobs/overview")["jobs"]
                if job["name"] == name and (states is None or job["state"] in states)]

    def state(self, job_id):
        """A job's state from /jobs/overview (``/jobs/:id`` is cached and can be seconds stale)."""
        for job in self.get("/jobs/overview")["jobs"]:
            if job["jid"] == job_id:
                return job["state"]
        return None

    def active(self, name):
        return self.jobs_named(name, ACTIVE)

    def the_running_job(self, name):
        """The single active job of that name; never two (asserted)."""
        active = self.active(name)
        assert len(active) == 1, "expected exactly one active job %s, got %s" % (name, active)
        return active[0]

    def jar_names(self):
        return sorted(jar["name"] for jar in self.get("/jars")["files"])

    def spec_fingerprint(self, job_id):
        """The spec a job runs, from its confirmation record
        (``flinkops-run-<name hash>-<job id>-<spec fingerprint>.jar``)."""
        for name in self.jar_names():
            if name.startswith("flinkops-run-") and "-%s-" % job_id in name:
                return name[-20:-4]
        return None

    def snapshot(self, name):
        """What check mode must not change: the jobs of this name and the uploaded JARs."""
        jobs = sorted((job["jid"], job["state"]) for job in self.get("/jobs/overview")["jobs"]
                      if job["name"].startswith(name))
        return jobs, self.jar_names()

    def counts(self, tag):
        """{(version, key): [counts in order]} printed by jobs started with ``--tag tag``."""
        seen = {}
        for match in _lines_of(_COUNT, tag).finditer(self.cluster.taskmanager_stdout()):
            key = (match.group(4), int(match.group(1)))
            seen.setdefault(key, []).append(int(match.group(2)))
        return seen

    def cancel_all_active(self, timeout=60):
        """Cancel every active job of the cluster and wait until none is active (a dedicated
        cluster between tests: the next test's job must get the slots)."""
        for job in self.get("/jobs/overview").get("jobs", []):
            if job["state"] in ACTIVE:
                rest(self.url, "PATCH", "/jobs/%s?mode=cancel" % job["jid"], timeout=10, context=self.context)
        deadline = time.time() + timeout
        while time.time() < deadline and any(
                job["state"] in ACTIVE for job in self.get("/jobs/overview").get("jobs", [])):
            time.sleep(0.5)

    def assert_exactly_once(self, tag):
        """Per key, the counts of every job of this tag: 50, 100, ... none twice, none missing."""
        seen = {}
        for (_version, key), counts in self.counts(tag).items():
            seen.setdefault(key, []).extend(counts)
        assert seen, "the job printed no counts"
        for key, counts in seen.items():
            twice = sorted(set(c for c in counts if counts.count(c) > 1))
            assert not twice, "key %s: counts printed twice (state replayed): %s" % (key, twice[:5])
            expected = list(range(50, max(counts) + 1, 50))
            assert sorted(counts) == expected, "key %s: counts missing (state lost): %s" % (
                key, sorted(set(expected) - set(counts))[:5])

    def assert_carried_once(self, tag, old, new):
        """Version ``new`` went on from version ``old``'s last count, per key: none missing, none
        of ``new``'s twice, and ``new`` repeats none of ``old``'s. ``old``'s own output may repeat:
        a job that Flink itself recovered from its last checkpoint (a JobManager failover) prints
        again what it printed after that checkpoint; its state does not count twice."""
        seen = self.counts(tag)
        keys = sorted(set(key for _version, key in seen))
        assert keys, "the job printed no counts"
        for key in keys:
            before = seen.get((old, key), [])
            after = seen.get((new, key), [])
            assert after, "key %s: version %s printed no counts" % (key, new)
            twice = sorted(set(c for c in after if after.count(c) > 1))
            assert not twice, "key %s: %s printed counts twice (state replayed): %s" % (key, new, twice[:5])
            assert min(after) == max(before or [0]) + 50, \
                "key %s: %s went on at %s, %s ended at %s" % (key, new, min(after), old, max(before or [0]))
            expected = list(range(50, max(after) + 1, 50))
            assert sorted(set(before) | set(after)) == expected, "key %s: counts missing (state lost): %s" % (
                key, sorted(set(expected) - set(before) - set(after))[:5])

    def heartbeats(self, tag):
        return [(int(match.group(1)), int(match.group(2)), match.group(3))
                for match in _lines_of(_HB, tag).finditer(self.cluster.taskmanager_stdout())]

    def wait_counts(self, tag, version, minimum=1, timeout=60):
        """Wait until the job printed ``minimum`` COUNT lines per key for ``version``."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            seen = self.counts(tag)
            keys = [k for k in seen if k[0] == version]
            if keys and all(len(seen[k]) >= minimum for k in keys):
                return seen
            time.sleep(0.5)
        raise AssertionError("no COUNT output of %s for tag %s" % (version, tag))

    def checkpoints(self, job_id):
        return self.get("/jobs/%s/checkpoints" % job_id)

    def _wait_latest(self, job_id, kind, timeout):
        """``latest[kind]`` of the job's checkpoint stats, once Flink lists it (cached ~3 s)."""
        deadline = time.time() + timeout
        while True:
            try:
                found = (self.checkpoints(job_id).get("latest") or {}).get(kind)
            except RestError as exc:
                # A job still initializing (its JobMaster not up yet) answers 500: not yet.
                if exc.status != 500 or "initializing" not in str(exc.answer):
                    raise
                found = None
            if found:
                return found
            assert time.time() < deadline, "job %s lists no %s checkpoint" % (job_id, kind)
            time.sleep(0.5)

    def wait_restored(self, job_id, timeout=15):
        """What Flink says the job was restored from."""
        return self._wait_latest(job_id, "restored", timeout)

    def wait_checkpoint(self, job_id, after_ms=0, timeout=30):
        """The job's latest completed checkpoint acknowledged after ``after_ms`` (epoch ms)."""
        deadline = time.time() + timeout
        while True:
            completed = self._wait_latest(job_id, "completed", timeout)
            if completed.get("latest_ack_timestamp", 0) > after_ms:
                return completed
            assert time.time() < deadline, "no checkpoint of job %s after %s" % (job_id, after_ms)
            time.sleep(0.5)


# --------------------------------------------------------------------------- the benchmarks' observers

TERMINAL = ("FINISHED", "CANCELED", "FAILED")
POLL = 0.02


def all_running(job):
    """Whether a /jobs/overview entry is RUNNING with every task running."""
    tasks = job.get("tasks") or {}
    return job.get("state") == "RUNNING" and tasks.get("total", 0) > 0 and \
        tasks.get("running") == tasks.get("total")


def running_job(client, name):
    """The first job of that name that is not finished, canceled or failed (None: none)."""
    jobs = [j for j in client.call("GET", "/jobs/overview")["jobs"] if j["name"] == name and
            j["state"] not in TERMINAL]
    return jobs[0] if jobs else None


def wait_running(client, name, timeout=120.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = running_job(client, name)
        if job and all_running(job):
            return job
        time.sleep(0.1)
    raise RuntimeError("job %s not running after %ss" % (name, timeout))


class RunningObserver(threading.Thread):
    """Polls /jobs/overview every 20 ms: is a job of this name all-tasks-RUNNING?"""

    def __init__(self, url, name, interval=POLL):
        super().__init__(daemon=True)
        self.rest = Rest(url, timeout=10)
        self.name_ = name
        self.interval = interval
        self.samples = []
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            sent = time.time()
            try:
                jobs = self.rest.call("GET", "/jobs/overview")["jobs"]
                ok = any(j["name"] == self.name_ and all_running(j) for j in jobs)
            except (OSError, RuntimeError, http.client.HTTPException, ValueError):
                ok = None
            got = time.time()
            self.samples.append(((sent + got) / 2, ok))
            time.sleep(max(0.0, self.interval - (time.time() - sent)))
        self.rest.close()

    def recovered(self):
        seen_down = False
        for _t, ok in self.samples:
            if ok is False:
                seen_down = True
            elif ok and seen_down:
                return True
        return False

    def gap(self):
        """Seconds from the first sample without an all-RUNNING job to the last one
        (each edge at the midpoint between the two samples around it)."""
        samples = [s for s in self.samples if s[1] is not None]
        down = [i for i, (_t, ok) in enumerate(samples) if not ok]
        if not down:
            return 0.0
        first, last = down[0], down[-1]
        start = (samples[first - 1][0] + samples[first][0]) / 2 if first > 0 else samples[first][0]
        end = (samples[last][0] + samples[last + 1][0]) / 2 if last + 1 < len(samples) else samples[last][0]
        return end - start

    def mean_interval(self):
        if len(self.samples) < 2:
            return None
        return (self.samples[-1][0] - self.samples[0][0]) / (len(self.samples) - 1)

    def stop(self):
        self.halt.set()
        self.join(10)
