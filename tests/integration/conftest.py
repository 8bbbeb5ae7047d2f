# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for integration tests: independent REST checks and the modules run as Ansible runs them.

The real clusters (``flink_cluster``, ``flink_cluster_pool``, ``flink_versions``,
``unique_job_name``) come from flinkops_devkit.pytest_plugin, which pytest.ini registers.
"""

from __future__ import annotations

import pytest

from flinkops_devkit.flinkctl import build_jobs
from flinkops_devkit.hacluster import HaCluster
from flinkops_devkit.modules import run_module
from flinkops_devkit.observer import ACTIVE, Flink
from flinkops_devkit.pytest_plugin import configured_versions
from flinkops_devkit.rest import rest


@pytest.fixture
def flink(flink_cluster):
    return Flink(flink_cluster)


@pytest.fixture
def job_params(flink, unique_job_name):
    """Module parameters for the sample stateful job, unique per test."""
    def make(jar="stateful-v1", tag=None, extra_args=(), **overrides):
        params = dict(url=flink.url, name=unique_job_name, jar=flink.jobs[jar],
                      entry_class=flink.entry_class,
                      args=["--name", unique_job_name, "--tag", tag or unique_job_name,
                            "--rate", "400"] + list(extra_args))
        params.update(overrides)
        return params
    return make


@pytest.fixture
def module():
    return run_module


@pytest.fixture(scope="module", params=configured_versions(), ids=lambda v: "flink-%s" % v)
def ha(request):
    """A ZooKeeper-HA cluster of the test module's own: two JobManagers, each serving REST with
    an upload directory of its own, and one TaskManager (flinkops_devkit.hacluster)."""
    cluster = HaCluster(request.param, slots=8)
    cluster.start()
    cluster.jobs = build_jobs(request.param)
    cluster.url = cluster.url_of(0)
    yield cluster
    cluster.stop()


@pytest.fixture
def ha_flink(ha):
    """The HA cluster seen from outside (the ``flink`` fixture's view of ``ha``)."""
    return Flink(ha)


@pytest.fixture
def ha_job(ha, unique_job_name):
    """Parameters of the sample stateful job through the HA cluster's JobManager ``via``; the
    test's jobs are cancelled after it."""
    def make(via=0, jar="stateful-v1", **overrides):
        params = dict(url=ha.url_of(via), name=unique_job_name, jar=ha.jobs[jar],
                      entry_class=ha.jobs["entry_class"],
                      args=["--name", unique_job_name, "--tag", unique_job_name, "--rate", "400"])
        params.update(overrides)
        return params
    yield make
    for via in (0, 1):  # whichever JobManager answers (a test may leave one down)
        try:
            status, overview = rest(ha.url_of(via), "GET", "/jobs/overview", timeout=30)
        except OSError:
            continue
        for found in overview.get("jobs", []) if status == 200 else []:
            if found["name"].startswith(unique_job_name) and found["state"] in ACTIVE:
                rest(ha.url_of(via), "PATCH", "/jobs/%s?mode=cancel" % found["jid"], timeout=30)
        break
