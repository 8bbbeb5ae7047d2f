# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for integration tests: independent REST checks and the modules run as Ansible runs them.

The real clusters (``flink_cluster``, ``flink_cluster_pool``, ``flink_versions``,
``unique_job_name``) come from flinkops_devkit.pytest_plugin, which pytest.ini registers.
"""

from __future__ import annotations

import pytest

from flinkops_devkit.modules import run_module
from flinkops_devkit.observer import Flink


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
