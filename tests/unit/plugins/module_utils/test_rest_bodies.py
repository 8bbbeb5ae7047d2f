# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The request bodies per Flink version (pure functions; docs/compatibility.md has the table).

Each version boundary is tested on both sides. What the bodies encode was observed on real
clusters of 1.18.1, 1.19.3, 1.20.5, 2.0.2, 2.1.3, 2.2.1 and 2.3.0.
"""

from __future__ import annotations

import pytest

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._rest import (
    plan_body,
    run_body,
    savepoint_body,
    stop_body,
)

TESTED = [(1, 18, 1), (1, 19, 3), (1, 20, 5), (2, 0, 2), (2, 1, 3), (2, 2, 1), (2, 3, 0)]
# The fields Flink 1.18 and 1.19 accept in each body (they answer HTTP 400 to any other).
RUN_FIELDS_1_18 = {"entryClass", "programArgs", "programArgsList", "parallelism", "jobId",
                   "allowNonRestoredState", "savepointPath", "restoreMode", "flinkConfiguration"}
PLAN_FIELDS_1_18 = {"entryClass", "programArgs", "programArgsList", "parallelism", "jobId",
                    "flinkConfiguration"}
STOP_FIELDS_1_18 = {"targetDirectory", "drain", "formatType", "triggerId"}
SAVEPOINT_FIELDS_1_18 = {"target-directory", "cancel-job", "formatType", "triggerId"}


def full_run_body(version, claim_mode="no_claim"):
    return run_body(version, entry_class="com.example.Job", args=["--a", "1"], parallelism=2,
                    configuration={"execution.checkpointing.interval": "10s", "x": 1},
                    savepoint_path="file:///sp/1", allow_non_restored_state=True,
                    job_id="0" * 32, claim_mode=claim_mode)


@pytest.mark.parametrize("version", TESTED)
def test_program_arguments_are_always_a_list(version):
    body = run_body(version, args=["--name", "a b"])
    assert body["programArgsList"] == ["--name", "a b"]
    assert "programArgs" not in body  # ignored by 2.x: never sent


def test_empty_arguments_are_an_empty_list():
    assert run_body((2, 3, 0))["programArgsList"] == []


@pytest.mark.parametrize("version", [(1, 18, 1), (1, 19, 3), (1, 19, 99)])
def test_restore_mode_is_restoremode_before_1_20(version):
    body = full_run_body(version, "claim")
    assert body["restoreMode"] == "CLAIM"
    assert "claimMode" not in body  # 1.18 and 1.19 reject it with HTTP 400


@pytest.mark.parametrize("version", [(1, 20, 0), (1, 20, 5), (2, 0, 2), (2, 3, 0)])
def test_restore_mode_is_claimmode_from_1_20(version):
    body = full_run_body(version, "no_claim")
    assert body["claimMode"] == "NO_CLAIM"
    assert "restoreMode" not in body


def test_restore_mode_not_sent_when_not_set():
    body = full_run_body((2, 3, 0), claim_mode=None)
    assert "claimMode" not in body and "restoreMode" not in body


def test_restore_mode_only_with_a_savepoint():
    body = run_body((2, 3, 0), claim_mode="claim")
    assert "claimMode" not in body and "savepointPath" not in body
    assert "allowNonRestoredState" not in body


def test_restore_mode_below_1_15_is_an_error_naming_option_and_versions():
    with pytest.raises(FlinkError) as info:
        full_run_body((1, 14, 6), "claim")
    assert "restore_mode" in str(info.value)
    assert "1.15" in str(info.value) and "1.14.6" in str(info.value)


def test_restore_mode_at_1_15_is_restoremode():
    assert full_run_body((1, 15, 0), "claim")["restoreMode"] == "CLAIM"


def test_unknown_version_is_not_held_against_the_user():
    # /config without flink-version parses to (0,): send the field every version accepts.
    assert full_run_body((0,), "claim")["restoreMode"] == "CLAIM"


@pytest.mark.parametrize("version", TESTED)
def test_configuration_is_sent_as_strings(version):
    body = full_run_body(version)
    assert body["flinkConfiguration"] == {"execution.checkpointing.interval": "10s", "x": "1"}


@pytest.mark.parametrize("version", [(1, 18, 1), (1, 19, 3)])
def test_run_body_has_only_fields_strict_versions_accept(version):
    assert set(full_run_body(version, "claim")) <= RUN_FIELDS_1_18


@pytest.mark.parametrize("version", TESTED)
def test_plan_body_carries_configuration_but_no_savepoint_fields(version):
    body = plan_body(full_run_body(version, "claim"))
    assert body == {"entryClass": "com.example.Job", "programArgsList": ["--a", "1"],
                    "parallelism": 2,
                    "flinkConfiguration": {"execution.checkpointing.interval": "10s", "x": "1"}}
    assert set(body) <= PLAN_FIELDS_1_18


def test_plan_body_without_optional_fields():
    assert plan_body(run_body((1, 18, 1), args=[])) == {"programArgsList": []}


@pytest.mark.parametrize("version", TESTED)
def test_stop_body(version):
    body = stop_body(version, "file:///sp", drain=True, fmt="native")
    assert body == {"drain": True, "formatType": "NATIVE", "targetDirectory": "file:///sp"}
    assert set(body) <= STOP_FIELDS_1_18


def test_stop_body_without_target_uses_the_cluster_default():
    assert stop_body((1, 18, 1), None) == {"drain": False, "formatType": "CANONICAL"}


@pytest.mark.parametrize("version", TESTED)
def test_savepoint_body(version):
    body = savepoint_body(version, "file:///sp", fmt="native", cancel_job=True, trigger_id="ab" * 16)
    assert body == {"cancel-job": True, "formatType": "NATIVE", "triggerId": "ab" * 16,
                    "target-directory": "file:///sp"}
    assert set(body) <= SAVEPOINT_FIELDS_1_18


def test_native_format_below_1_15_is_an_error():
    with pytest.raises(FlinkError) as info:
        stop_body((1, 14, 0), None, fmt="native")
    assert "savepoint_format=native" in str(info.value) and "1.15" in str(info.value)
    with pytest.raises(FlinkError):
        savepoint_body((1, 14, 0), None, fmt="native", trigger_id="x")


def test_native_format_at_1_15():
    assert stop_body((1, 15, 0), None, fmt="native")["formatType"] == "NATIVE"


def test_canonical_format_needs_no_version():
    # The default format is sent without asking the cluster's version (no extra request).
    assert savepoint_body(None, None, trigger_id="t")["formatType"] == "CANONICAL"
