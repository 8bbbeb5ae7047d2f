# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""flink_savepoint on real clusters: max_age never returns a disposed savepoint (issue 14.5), and
disposing of a directory that holds no savepoint fails and removes nothing (issue 14.8)."""

from __future__ import annotations

import os
from urllib.parse import urlparse


def local_path(location):
    return urlparse(location).path


def test_max_age_does_not_return_a_disposed_savepoint(flink, module, job_params):
    params = job_params()
    started = module("flink_job", params)
    assert started["changed"], started
    first = module("flink_savepoint", dict(url=flink.url, job_name=params["name"]))
    assert first["changed"] and first["location"]
    recent = module("flink_savepoint", dict(url=flink.url, job_name=params["name"], max_age=3600))
    assert not recent["changed"] and recent["location"] == first["location"]
    disposed = module("flink_savepoint", dict(url=flink.url, state="absent", path=first["location"]))
    assert disposed["changed"] and disposed["disposed"]
    assert not os.path.exists(local_path(first["location"]))
    # Flink still lists it as the job's latest savepoint; the module must not hand it out.
    assert flink.checkpoints(started["job_id"])["latest"]["savepoint"]["external_path"] == \
        first["location"]
    fresh = module("flink_savepoint", dict(url=flink.url, job_name=params["name"], max_age=3600))
    assert fresh["changed"] and fresh["location"] and fresh["location"] != first["location"]
    assert os.path.isdir(local_path(fresh["location"]))


def test_disposing_of_a_directory_that_is_not_a_savepoint_fails(flink, module, unique_job_name):
    directory = flink.cluster.savepoint_dir / unique_job_name
    (directory / "data").mkdir(parents=True)
    (directory / "data" / "keep.txt").write_text("not a savepoint\n")
    result = module("flink_savepoint", dict(url=flink.url, state="absent", path=directory.as_uri()))
    assert result.get("failed") and "is not a savepoint" in result["msg"], result
    assert (directory / "data" / "keep.txt").read_text() == "not a savepoint\n"
