# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""bench/report.py's pre-check rows (issue 17), on made-up results: what the check costs an upgrade."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location(
    "bench_report", Path(__file__).resolve().parents[2] / "bench" / "report.py")
report = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(report)

JOB = "0123456789abcdef0123456789abcdef"
BEFORE = [["GET", "/jobs/overview"], ["GET", "/jars"], ["POST", "/jars/1f2e_flinkops-x.jar/plan"]]
AFTER = [["POST", "/jobs/%s/stop" % JOB], ["GET", "/jobs/%s/savepoints/%s" % (JOB, JOB)]]


def results(stopped, with_check_extra):
    downtime = [{"method": method, "records_stopped_ms": ms} for method, values in stopped.items() for ms in values]
    requests = {"flink_job": BEFORE + with_check_extra + AFTER,
                "flink_job_check_off": BEFORE + AFTER + AFTER[1:]}
    return {"downtime": downtime, "precheck": {"requests": requests}}


def targets_of(data):
    lines, targets = [], []
    report.precheck_section(data, lines, targets)
    return dict((t[0].split(" (issue")[0], t) for t in targets), "\n".join(lines)


def test_requests_before_the_stop_are_named_without_ids():
    names, stopped = report.before_stop(BEFORE + [["GET", "/jobs/%s/checkpoints/details/17" % JOB]] + AFTER)
    assert stopped
    assert names == ["GET /jobs/overview", "GET /jars", "POST /jars/:jarid/plan",
                     "GET /jobs/:id/checkpoints/details/:n"]


def test_two_reads_before_the_stop_and_the_same_records_stopped_pass():
    reads = [["GET", "/jobs/%s/checkpoints" % JOB], ["GET", "/jobs/%s/checkpoints/details/17" % JOB]]
    targets, text = targets_of(results({"flink_job": [1000, 1010], "flink_job_check_off": [990, 1000]}, reads))
    ratio_row = targets["flink_job update: records stopped with the state pre-check <= 1.1x without it"]
    assert ratio_row[2] and ratio_row[3] == pytest.approx(1005 / 995.0)
    cost = targets["the pre-check adds at most 2 REST reads to an upgrade, besides the plan"]
    assert cost[1:4] == ("2 reads", True, 2)
    assert "`GET /jobs/:id/checkpoints` x1, `GET /jobs/:id/checkpoints/details/:n` x1" in text


def test_more_downtime_or_a_write_before_the_stop_miss():
    extra = [["GET", "/jobs/%s/checkpoints" % JOB], ["POST", "/jobs/%s/savepoints" % JOB]]
    targets, _text = targets_of(results({"flink_job": [1300], "flink_job_check_off": [1000]}, extra))
    assert not targets["flink_job update: records stopped with the state pre-check <= 1.1x without it"][2]
    cost = targets["the pre-check adds at most 2 REST reads to an upgrade, besides the plan"]
    assert cost[1:3] == ("2 requests, not all reads", False)


def test_results_of_earlier_runs_have_no_pre_check_rows():
    data = {"downtime": [{"method": m, "records_stopped_ms": 900} for m in ("floor", "cli", "flink_job", "role")]}
    assert report.methods_measured(data) == ["floor", "cli", "flink_job", "role"]
