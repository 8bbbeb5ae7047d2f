# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for integration tests: real clusters (tests/flink) and independent REST checks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "flink"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Fixtures are found by pytest through these names.
from pytest_plugin import (  # noqa: E402,F401 pylint: disable=unused-import
    flink_cluster,
    flink_cluster_pool,
    flink_versions,
    unique_job_name,
)
from modules import run_module  # noqa: E402
from observer import Flink  # noqa: E402


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
