# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Options that did nothing, or something nobody meant, in a combination (issue 14.8): refused
before any request, or warned about."""

from __future__ import annotations

import pytest

from ansible_collections.flinkops.flink.plugins.modules import flink_job, flink_savepoint
from ansible_collections.flinkops.flink.tests.unit.plugins.modules.test_modules import (  # noqa: F401 pylint: disable=unused-import
    run,
    script,
)

JOB = dict(name="orders", jar_id="abc_orders.jar")


@pytest.mark.parametrize("module, args, message", [
    (flink_job, dict(JOB, savepoint_dir="savepoints"), "savepoint_dir 'savepoints' is relative"),
    (flink_job, dict(JOB, savepoint_dir="./sp"), "against the JobManager's working directory"),
    (flink_savepoint, dict(job_name="orders", target_directory="backups/orders"),
     "target_directory 'backups/orders' is relative"),
    (flink_savepoint, dict(job_name="orders", drain=True), "drain needs stop=true"),
    (flink_job, dict(JOB, parallelism=-1), "parallelism must be 1 or more, got -1"),
], ids=["job-relative-dir", "job-dot-dir", "savepoint-relative-dir", "drain-without-stop",
        "negative-parallelism"])
def test_refused_before_any_request(script, capsys, module, args, message):
    result = run(module, args, capsys)
    assert result["failed"] and message in result["msg"], result
    assert script.sent == []


@pytest.mark.parametrize("location", ["/flink/sp", "file:///flink/sp", "file:/flink/sp",
                                      "s3://bucket/sp", "hdfs://nn:8020/sp"])
def test_absolute_locations_pass_the_check(script, capsys, location):
    script.on("GET", "/jobs/overview", {"jobs": []})
    result = run(flink_savepoint, dict(job_name="orders", target_directory=location), capsys)
    # Past the option checks: the module asks Flink for the job.
    assert result["failed"] and "no running job named 'orders'" in result["msg"], result


def test_health_require_checkpoint_without_wait_is_refused(script, capsys):
    # The checkpoint gate triggers a checkpoint of the started job: without waiting for it
    # to run there is nothing to trigger, so the combination is refused before any request.
    result = run(flink_job, dict(JOB, health_require_checkpoint=True, wait=False), capsys)
    assert result["failed"] and "health_require_checkpoint needs wait=true" in result["msg"], result
    assert script.sent == []
