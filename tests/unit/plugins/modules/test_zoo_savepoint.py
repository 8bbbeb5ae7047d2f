# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""flink_savepoint never hands out a savepoint it disposed of (issue 14.5), and disposing of a
path that is not a savepoint fails (issue 14.8)."""

from __future__ import annotations

import time

from ansible_collections.flinkops.flink.plugins.module_utils._store import disposal_record_name
from ansible_collections.flinkops.flink.plugins.modules import flink_savepoint
from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils.flinkfake import (
    checkpoints,
    job,
    overview,
    savepoint_done,
)
from ansible_collections.flinkops.flink.tests.unit.plugins.modules.test_modules import (  # noqa: F401 pylint: disable=unused-import
    JID,
    run,
    script,
)


def test_max_age_takes_a_new_savepoint_when_the_recent_one_was_disposed_of(script, capsys):
    script.on("GET", "/jobs/overview", overview(job(JID)))
    script.on("GET", "/jobs/%s/checkpoints" % JID, checkpoints(
        savepoint={"external_path": "file:/sp/1", "latest_ack_timestamp": int(time.time() * 1000)}))
    # Disposed of earlier as file:///sp/1/ (another spelling of the same path).
    script.on("GET", "/jars", {"files": [{"id": "x_" + disposal_record_name("file:///sp/1/"),
                                          "name": disposal_record_name("file:///sp/1/")}]})
    script.on("POST", "/jobs/%s/savepoints" % JID, {"request-id": "any"})
    script.on("GET", "/jobs/%s/savepoints/[0-9a-f]{32}" % JID, savepoint_done("file:/sp/2"))
    script.on("GET", "/jars", {"files": []})  # the job's records: none, so the savepoint is not logged
    result = run(flink_savepoint, dict(job_name="orders", max_age=600), capsys)
    assert result["location"] == "file:/sp/2" and result["changed"]


def test_disposal_is_recorded_once(script, capsys):
    script.on("POST", "/savepoint-disposal", {"request-id": "d"})
    script.on("GET", "/savepoint-disposal/d", savepoint_done("ignored"))
    script.on("GET", "/jars", {"files": []})
    script.on("POST", "/jars/upload", {"filename": "/x/y_" + disposal_record_name("file:/sp/1")})
    result = run(flink_savepoint, dict(state="absent", path="file:/sp/1"), capsys)
    assert result["disposed"] is True and result["changed"]
    assert script.sent[-1][0] == "POST /jars/upload"
    assert disposal_record_name("file:/sp/1").encode() in script.sent[-1][1]


def test_disposing_of_a_directory_that_is_not_a_savepoint_fails(script, capsys):
    script.on("POST", "/savepoint-disposal", {"request-id": "d"})
    script.on("GET", "/savepoint-disposal/d", savepoint_done(
        failure="java.io.FileNotFoundException: Cannot find meta data file '_metadata' in directory "
                "'file:/data/orders'. Please try to load the checkpoint/savepoint directly from "
                "the metadata file instead of the directory."))
    result = run(flink_savepoint, dict(state="absent", path="file:/data/orders"), capsys)
    assert result["failed"] and "is not a savepoint" in result["msg"], result
    assert "nothing was disposed of" in result["msg"]
