# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pytest fixtures for tests against real Flink clusters (see flinkctl.py).

The repository's pytest.ini registers it for every pytest run (``-p flinkops_devkit.pytest_plugin``);
a test module that imports these fixtures by name as well shares the same cluster pool.

Fixtures:
    flink_versions      list of minors from FLINKOPS_TEST_FLINK_VERSIONS (default "2.3,1.20")
    flink_cluster       session-scoped, parametrised per version: a started flinkctl.Cluster
                        (.url, .version, .minor, .jobs, .savepoint_dir, .checkpoint_dir,
                        .taskmanager_stdout(), ...). Started lazily on first use, stopped at
                        session end. Test ids: ``[flink-2.3]``.
    flink_cluster_pool  the pool itself: .get("1.20") starts/returns a cluster of any version.
    unique_job_name     a job name unique per test; at teardown, jobs still running on the
                        pool's clusters whose name starts with it are cancelled.

Env: FLINKOPS_TEST_FLINK_VERSIONS (comma list of minors or exact versions),
FLINKOPS_TEST_VERSION_SENSITIVE_ONLY=1 deselects tests marked ``first_version_only`` (make
integration-others sets it: what does not depend on Flink's version runs on the first one only),
FLINKOPS_KEEP_CLUSTER_DIRS=1 keeps each cluster's base dir (logs, savepoints) after the session,
FLINKOPS_CACHE moves the distribution cache (default ~/.cache/flinkops).
"""

from __future__ import annotations

import os
import re
import sys
import threading
import uuid

import pytest

from flinkops_devkit import flinkctl

ENV_VERSIONS = "FLINKOPS_TEST_FLINK_VERSIONS"
DEFAULT_VERSIONS = "2.3,1.20"
ENV_KEEP = "FLINKOPS_KEEP_CLUSTER_DIRS"  # set to keep cluster dirs (logs, savepoints) after the session
ENV_VERSION_SENSITIVE_ONLY = "FLINKOPS_TEST_VERSION_SENSITIVE_ONLY"


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "first_version_only(reason): the test proves something that does not depend on "
        "Flink's version (argument checks, redaction, a store's client); the other versions' run "
        "(FLINKOPS_TEST_VERSION_SENSITIVE_ONLY=1) deselects it")


def pytest_collection_modifyitems(config, items):
    if not os.environ.get(ENV_VERSION_SENSITIVE_ONLY):
        return
    kept = [item for item in items if item.get_closest_marker("first_version_only") is None]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


def configured_versions() -> list:
    raw = os.environ.get(ENV_VERSIONS) or DEFAULT_VERSIONS
    versions = [v.strip() for v in raw.split(",") if v.strip()]
    for v in versions:
        flinkctl.resolve_version(v)  # fail early on typos
    return versions


class ClusterPool:
    """One cluster per Flink version per session, started on first request."""

    def __init__(self):
        self._clusters: dict = {}
        self._errors: dict = {}
        self._lock = threading.Lock()

    def get(self, version: str) -> "flinkctl.Cluster":
        exact = flinkctl.resolve_version(version)
        with self._lock:
            if exact in self._errors:
                raise RuntimeError(f"Flink {exact} cluster failed to start earlier in this session:\n"
                                   f"{self._errors[exact]}")
            cluster = self._clusters.get(exact)
            if cluster is None:
                cluster = flinkctl.Cluster(exact, name=f"pytest-{exact}-{uuid.uuid4().hex[:6]}",
                                           keep=bool(os.environ.get(ENV_KEEP)))
                try:
                    cluster.jobs = flinkctl.build_jobs(exact)
                    cluster.entry_class = cluster.jobs["entry_class"]
                    cluster.start()
                except Exception as e:
                    self._errors[exact] = str(e)
                    raise
                self._clusters[exact] = cluster
            return cluster

    def started(self) -> list:
        with self._lock:
            return list(self._clusters.values())

    def stop_all(self) -> None:
        with self._lock:
            clusters = list(self._clusters.values())
            self._clusters.clear()

        def _stop(c):
            try:
                c.stop()
            except Exception as e:  # pragma: no cover
                print(f"flinkops: stopping {c} failed: {e}", file=sys.stderr)

        threads = [threading.Thread(target=_stop, args=(c,)) for c in clusters]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)


@pytest.fixture(scope="session")
def flink_versions() -> list:
    return configured_versions()


@pytest.fixture(scope="session")
def flink_cluster_pool(request) -> ClusterPool:
    # Stored on the config so that the plugin and a conftest star-import share one pool.
    pool = getattr(request.config, "_flinkops_cluster_pool", None)
    if pool is None:
        pool = ClusterPool()
        request.config._flinkops_cluster_pool = pool
        request.config.add_cleanup(pool.stop_all)
    # Stopped at the session's teardown too: a pytest-xdist worker runs that before it reports
    # done, while the config's clean-up runs after, when the controller may kill it (10 s).
    request.addfinalizer(pool.stop_all)
    return pool


@pytest.fixture(scope="session")
def store_servers(request, tmp_path_factory):
    """The real state stores (SeaweedFS, ZooKeeper, PostgreSQL), each started on first use and
    stopped at the session's end; their credentials are put into this process's environment,
    which module processes inherit."""
    from flinkops_devkit.stores import StoreServers

    servers = StoreServers(tmp_path_factory.mktemp("stores"))
    request.addfinalizer(servers.stop_all)
    return servers


@pytest.fixture
def state_store_of(store_servers, unique_job_name, monkeypatch):
    """``state_store_of(kind)``: a state_store URL of its own for this test (its environment set)."""
    def make(kind):
        url = store_servers.url(kind, unique_job_name[-12:])
        for key, value in store_servers.env.items():
            monkeypatch.setenv(key, value)
        return url
    return make


@pytest.fixture(scope="session", params=configured_versions(), ids=lambda v: f"flink-{v}")
def flink_cluster(request, flink_cluster_pool):
    return flink_cluster_pool.get(request.param)


@pytest.fixture
def unique_job_name(request, flink_cluster_pool):
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")[:48]
    name = f"t-{base}-{uuid.uuid4().hex[:6]}"
    yield name
    for cluster in flink_cluster_pool.started():
        try:
            st, ov = flinkctl.rest(cluster.url, "GET", "/jobs/overview", timeout=10)
            for job in (ov or {}).get("jobs", []) if st == 200 else []:
                if job.get("name", "").startswith(name) and job.get("state") not in (
                        "FINISHED", "CANCELED", "FAILED"):
                    flinkctl.rest(cluster.url, "PATCH", f"/jobs/{job['jid']}?mode=cancel", timeout=10)
        except Exception:
            pass
