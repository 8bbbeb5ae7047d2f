# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Part 5 of `make bench` (``--only store``): flink_job with a durable ``state_store``.

Real stores (flinkops_devkit.stores: SeaweedFS for S3, ZooKeeper, PostgreSQL), started here and
stopped at the end. Three measurements, each against a floor taken in the same run:

1. **Records stopped during an upgrade** by flink_job with each store, in the same rounds as the
   raw-REST floor and flink_job without a store (Downtime.rounds): the store is read before the
   stop and written after the submit, so it should add nothing to the records stopped.
2. **What an up-to-date run sends**: REST requests (a counting HTTP proxy in front of Flink,
   flinkops_devkit.faultproxy), and store requests and round trips (a counting TCP proxy in front
   of the store, bench/wire.py), with each store kind.
3. **A no-op on a store holding 200 other jobs' histories against one on an empty store**: a
   fresh S3 prefix / ZooKeeper chroot / PostgreSQL database each, one filled with 200 job names'
   records by the collection's own record writers (spec record, confirmation, 50 operation-log
   entries, migration mark), timed no-op runs of the same job taking turns.

Results in ``lab.results["store"]``; bench/report.py writes the section.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid

from flinkops_devkit.faultproxy import FaultProxy
from flinkops_devkit.observer import running_job
from flinkops_devkit.stores import StoreServers

from downtime import STORE_METHODS, Downtime
from lab import WORK, log
from wire import CountingProxy

KINDS = ("zookeeper", "s3", "postgresql")
# the downtime rounds: the floor, flink_job without a store (reference), flink_job with each store
METHODS = ("floor", "flink_job") + tuple(STORE_METHODS)
FILL_JOBS = 200
FILL_OPERATIONS = 50  # the operation log keeps 50 entries per job (_oplog.OPERATIONS_KEPT)
FILL_THREADS = 8
STORES = ("empty", "full")


def run(lab):
    servers = StoreServers(WORK / "stores")
    try:
        StoreBench(lab, servers).run()
    finally:
        servers.stop_all()


class StoreBench:
    """The three measurements on one Lab with one set of store servers."""

    def __init__(self, lab, servers):
        self.lab = lab
        self.servers = servers
        self.out = lab.results["store"] = {"downtime": [], "noop": {}, "fill": {}, "n": lab.n,
                                           "fill_jobs": FILL_JOBS, "fill_operations": FILL_OPERATIONS}

    def run(self):
        for kind in KINDS:
            started = time.monotonic()
            self.servers.server(kind)
            log("store: %s up in %.1f s" % (kind, time.monotonic() - started))
        self.downtime()
        self.noop()
        self.cancel_own_jobs()

    # -- URLs -------------------------------------------------------------------------------
    def url(self, kind, tag, address=None):
        """A state_store URL of its own (S3 prefix, ZooKeeper chroot, PostgreSQL database ``tag``),
        reached through ``address`` (host:port, a counting proxy) when given."""
        server = self.servers.server(kind)
        if kind == "s3":
            return "s3://%s/%s?endpoint=http://%s&region=%s&addressing=path" % (
                server.bucket, tag, address or "127.0.0.1:%d" % server.port, server.region)
        if kind == "zookeeper":
            return "zookeeper://%s/%s" % (address or server.address, tag)
        return "postgresql://%s:%s@%s/%s" % (server.user, server.password, address or "127.0.0.1:%d" % server.port,
                                             tag.replace("-", "_"))

    def upstream(self, kind):
        server = self.servers.server(kind)
        return ("127.0.0.1", server.port)

    def create_database(self, name):
        import psycopg  # pylint: disable=import-outside-toplevel
        from psycopg import sql  # pylint: disable=import-outside-toplevel
        server = self.servers.server("postgresql")
        with psycopg.connect(server.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(server.user)))

    # -- 1. records stopped during an upgrade -------------------------------------------------
    def downtime(self):
        urls = {"zookeeper": self.url("zookeeper", "flinkops-bench-downtime"),
                "s3": self.url("s3", "bench-downtime"),
                "postgresql": self.servers.server("postgresql").url}
        log("store: upgrade rounds %s" % ", ".join(METHODS))
        Downtime(self.lab, urls, self.servers.env).rounds(METHODS, self.out["downtime"], label="s")

    # -- 2. and 3. up-to-date runs ------------------------------------------------------------
    def noop(self):
        lab = self.lab
        job = lab.state["flink_job"]  # up to date after the rounds: its spec is what it runs
        urls = {}
        for kind in KINDS:
            urls[kind] = {}
            for which in STORES:
                tag = "flinkops-bench-%s" % which if kind == "zookeeper" else "bench-%s" % which
                if kind == "postgresql":
                    self.create_database(tag.replace("-", "_"))
                urls[kind][which] = self.url(kind, tag)
            self.out["fill"][kind] = fill(urls[kind]["full"], lab.entry, self.servers.env)
            log("store: %s filled with %d jobs' records (%d entries) in %.1f s" % (
                kind, FILL_JOBS, self.out["fill"][kind]["entries"], self.out["fill"][kind]["seconds"]))

        def noop_run(kind, which, rest_url=None, address=None):
            state_store = None if kind is None else (
                urls[kind][which] if address is None else self.url(kind, urls_tag(urls[kind][which]), address))
            return lab.run_flink_job(rest_url or lab.cluster_a.url, job["name"], job["version"], job["tag"],
                                     state_store=state_store, env=self.servers.env)

        # the first run against a fresh store imports the job's records from the JAR store: not timed
        warmup = {}
        for kind in KINDS:
            for which in STORES:
                _wall, recap = noop_run(kind, which)
                warmup["%s/%s" % (kind, which)] = recap["localhost"]["changed"]
        self.out["warmup_changed"] = warmup
        walls = {"jar_store": []}
        changed = {"jar_store": []}
        for kind in KINDS:
            for which in STORES:
                walls["%s/%s" % (kind, which)] = []
                changed["%s/%s" % (kind, which)] = []
        for rnd in range(lab.n):
            wall, recap = noop_run(None, None)
            walls["jar_store"].append(wall)
            changed["jar_store"].append(recap["localhost"]["changed"])
            for kind in KINDS:
                for which in (STORES if rnd % 2 == 0 else STORES[::-1]):
                    wall, recap = noop_run(kind, which)
                    walls["%s/%s" % (kind, which)].append(wall)
                    changed["%s/%s" % (kind, which)].append(recap["localhost"]["changed"])
            log("store: no-op round %d: %s" % (rnd + 1, ", ".join(
                "%s %.2f s" % (key, values[-1]) for key, values in walls.items())))
        counts = {}
        with FaultProxy(lab.cluster_a.url) as rest:
            noop_run(None, None, rest_url=rest.url)
            counts["jar_store"] = {"rest": [(m, p.split("?")[0]) for m, p in rest.seen], "store": None}
        for kind in KINDS:
            for which in STORES:
                with FaultProxy(lab.cluster_a.url) as rest, CountingProxy(*self.upstream(kind), kind) as wire:
                    _wall, recap = noop_run(kind, which, rest_url=rest.url, address=wire.address)
                    counts["%s/%s" % (kind, which)] = {"rest": [(m, p.split("?")[0]) for m, p in rest.seen],
                                                       "store": wire.snapshot(),
                                                       "changed": recap["localhost"]["changed"]}
                log("store: no-op %s/%s: %d REST requests, store %s" % (
                    kind, which, len(counts["%s/%s" % (kind, which)]["rest"]), counts["%s/%s" % (kind, which)]["store"]))
        self.out["noop"] = {"walls": walls, "changed": changed, "counts": counts}

    def cancel_own_jobs(self):
        """The store methods' jobs leave the cluster's slots to the parts after this one."""
        lab = self.lab
        for method in STORE_METHODS:
            job = running_job(lab.rest, lab.state[method]["name"])
            if job:
                lab.rest.call("PATCH", "/jobs/%s?mode=cancel" % job["jid"])


def urls_tag(url):
    """The prefix, chroot or database of a state_store URL made by StoreBench.url."""
    return url.split("://", 1)[1].split("?", 1)[0].rsplit("/", 1)[-1]


# ------------------------------------------------------------------------------- filling a store


def fill(url, entry_class, env, jobs=FILL_JOBS, operations=FILL_OPERATIONS, threads=FILL_THREADS):  # pylint: disable=too-many-arguments
    """Write ``jobs`` other job names' histories into the store at ``url`` with the collection's own
    record writers, ``env`` (the S3 credentials) set in this process meanwhile: {"entries", "seconds"}."""
    saved = dict((key, os.environ.get(key)) for key in env)
    os.environ.update(env)
    try:
        return fill_threads(url, entry_class, jobs, operations, threads)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def fill_threads(url, entry_class, jobs, operations, threads):
    started = time.monotonic()
    written = []
    errors = []

    def worker(indexes):
        try:
            written.append(fill_jobs(url, entry_class, indexes, operations))
        except Exception as exc:  # pylint: disable=broad-except
            errors.append(exc)

    workers = [threading.Thread(target=worker, args=(range(i, jobs, threads),)) for i in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    if errors:
        raise errors[0]
    return {"entries": sum(written), "seconds": time.monotonic() - started}


def fill_jobs(url, entry_class, indexes, operations):
    """One connection's share of ``fill``: the records of jobs ``bench-filler-<index>``."""
    # the collection is on the path when the bench runs (PYTHONPATH=build), not when it is imported
    # pylint: disable=import-outside-toplevel
    from ansible_collections.flinkops.flink.plugins.module_utils._guard import confirmation_name
    from ansible_collections.flinkops.flink.plugins.module_utils._oplog import operation_names
    from ansible_collections.flinkops.flink.plugins.module_utils._records._backend import ScopedRecords
    from ansible_collections.flinkops.flink.plugins.module_utils._records._state import MIGRATED, job_scope, open_state_store
    from ansible_collections.flinkops.flink.plugins.module_utils._spec import JobSpec
    from ansible_collections.flinkops.flink.plugins.module_utils._store import content_key, spec_record_names

    store = open_state_store(url, None, 30)
    count = 0
    try:
        for index in indexes:
            name = "bench-filler-%03d" % index
            spec = JobSpec(name, content_key(hashlib.sha256(name.encode()).hexdigest()), entry_class,
                           ["--name", name, "--rate", "200"])
            job_ids = [uuid.uuid4().hex for _op in range(operations)]
            names = spec_record_names(spec, "%s_%s.jar" % (uuid.uuid4(), name))
            names.append(confirmation_name(name, job_ids[-1], spec.fingerprint))
            first = int(time.time() * 1000) - operations * 60000
            for number, job_id in enumerate(job_ids):
                entry = {"time": (first + number * 60000) // 1000, "action": "upgraded" if number else "started",
                         "job_id": job_id, "fingerprint": spec.fingerprint, "actor": "bench-filler"}
                if number:
                    entry.update(previous_job_id=job_ids[number - 1],
                                 savepoint="file:/tmp/flink-savepoints/savepoint-%s-%012x" % (job_ids[number - 1][:6], number))
                names += operation_names(name, entry, first + number * 60000)
            names.append(MIGRATED)
            records = ScopedRecords(store.backend, job_scope(name))
            for record in names:
                records.write(record)
            count += len(names)
    finally:
        store.close()
    return count
