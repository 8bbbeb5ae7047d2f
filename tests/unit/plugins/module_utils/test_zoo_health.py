# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The health gate's checkpoint requirement for jobs without checkpointing (issue 14.7)."""

from __future__ import annotations

import pytest

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._poll import (
    checkpointing_enabled,
    watch_health,
)
from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils.flinkfake import (
    checkpoints,
    job,
    overview,
)

JID = "a" * 32
# /jobs/:id/checkpoints/config of a job whose program never enabled checkpointing (2.3.0, 1.18.1).
CHECKPOINTING_OFF = {"mode": "exactly_once", "interval": 9223372036854775807, "timeout": 600000}
CHECKPOINTING_ON = {"mode": "exactly_once", "interval": 1000, "timeout": 600000}


def script_window(script, ticks, config):
    for _tick in range(ticks):
        script.on("GET", "/jobs/overview", overview(job(JID)))
        script.on("GET", "/jobs/%s/checkpoints" % JID, checkpoints())
    script.on("GET", "/jobs/%s/checkpoints/config" % JID, config)


@pytest.mark.parametrize("config, status", [(CHECKPOINTING_OFF, 200), ({"errors": ["x"]}, 404)])
def test_a_job_without_checkpointing_passes_marked_off(client, script, config, status):
    for _tick in range(2):
        script.on("GET", "/jobs/overview", overview(job(JID)))
        script.on("GET", "/jobs/%s/checkpoints" % JID, checkpoints())
    script.on("GET", "/jobs/%s/checkpoints/config" % JID, config, status=status)
    script.on("GET", "/jobs/%s/exceptions" % JID, {"exceptionHistory": {"entries": []}})
    health = watch_health(client, JID, 0.2, True, 0, interval=0.2)
    assert health["checkpointing"] == "off" and health["checkpoint"] is None


def test_a_job_with_checkpointing_and_none_completed_still_fails(client, script):
    script_window(script, 2, CHECKPOINTING_ON)
    with pytest.raises(FlinkError, match="completed no checkpoint within the health window"):
        watch_health(client, JID, 0.2, True, 0, interval=0.2)


def test_checkpointing_enabled_reads_the_interval(client, script):
    script.on("GET", "/jobs/%s/checkpoints/config" % JID, CHECKPOINTING_ON)
    script.on("GET", "/jobs/%s/checkpoints/config" % JID, CHECKPOINTING_OFF)
    assert checkpointing_enabled(client, JID) is True
    assert checkpointing_enabled(client, JID) is False
