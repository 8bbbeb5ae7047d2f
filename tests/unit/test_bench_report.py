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


# --------------------------------------------------------------------------- the store part (bench/store.py)


def store_results(stopped, walls_full=(3.0, 3.1), children_full=2):
    downtime = [{"method": method, "records_stopped_ms": ms, "running_gap_ms": ms + 100, "wall_s": 5.0,
                 "exactly_once": True, "stop_phase_ms": 300, "handover_ms": 40, "start_phase_ms": ms - 340}
                for method, values in stopped.items() for ms in values]
    walls = {"jar_store": [2.8, 2.9]}
    counts = {"jar_store": {"rest": [["GET", "/jobs/overview"]] * 4, "store": None}}
    changed = {"jar_store": [0, 0]}
    for kind in ("zookeeper", "s3", "postgresql"):
        walls[kind + "/empty"] = [3.0, 3.1]
        walls[kind + "/full"] = list(walls_full)
        changed[kind + "/empty"] = changed[kind + "/full"] = [0, 0]
        for which, children in (("empty", 2), ("full", children_full)):
            counts["%s/%s" % (kind, which)] = {"rest": [["GET", "/jobs/overview"]] * 4, "changed": 0, "store": {
                "round_trips": 3 + children, "connections": 1,
                "ops": {"connect": 1, "getChildren": children, "ping": 1, "execute": 3}}}
    return {"store": {"n": 2, "fill_jobs": 200, "fill_operations": 50, "downtime": downtime,
                      "fill": dict((k, {"entries": 10800, "seconds": 20.0}) for k in ("zookeeper", "s3", "postgresql")),
                      "noop": {"walls": walls, "changed": changed, "counts": counts}}}


def store_targets_of(data):
    lines, targets = [], []
    report.store_section(data, lines, targets)
    return dict((t[0], t) for t in targets), "\n".join(lines)


STORE_STOPPED = {"floor": [1000, 1000], "flink_job": [1000, 1020], "flink_job_zookeeper": [1000, 1040],
                 "flink_job_s3": [1300, 1300], "flink_job_postgresql": [1050, 1050]}


def test_store_downtime_against_the_floor_per_store():
    targets, text = store_targets_of(store_results(STORE_STOPPED))
    zk = targets["flink_job update with a ZooKeeper state store: records stopped <= 1.1x the floor"]
    s3 = targets["flink_job update with a S3 (SeaweedFS) state store: records stopped <= 1.1x the floor"]
    pg = targets["flink_job update with a PostgreSQL state store: records stopped <= 1.1x the floor"]
    assert zk[2] and zk[3] == pytest.approx(1.02)
    assert not s3[2] and s3[3] == pytest.approx(1.3)
    assert pg[2] and pg[1] == "1.05x"
    assert "## 5. Durable state stores" in text
    assert "| flink_job, `state_store: zookeeper://...` | 1020 (1000–1040) | 1.02x |" in text


def test_store_noop_full_against_empty():
    targets, text = store_targets_of(store_results(STORE_STOPPED, walls_full=(3.3, 3.4)))
    name = "no-op flink_job on a %s store holding 200 jobs' histories <= 1.2x one on an empty store"
    ratio_zk = targets[name % "ZooKeeper"]
    assert ratio_zk[2] and ratio_zk[3] == pytest.approx(3.35 / 3.05)
    # requests: every message but pings (S3, ZooKeeper), the statements (PostgreSQL)
    requests = targets["up-to-date run: no more store requests on a store holding 200 jobs' histories than on an empty one"]
    assert requests[1:3] == ("ZooKeeper 6 / 6, S3 (SeaweedFS) 6 / 6, PostgreSQL 3 / 3", True)
    assert "| ZooKeeper | 3.05 (3.00–3.10) | 3.35 (3.30–3.40) | 1.10x | 4 | 6 / 6 | 5 / 5 | 1 |" in text
    slow, _text = store_targets_of(store_results(STORE_STOPPED, walls_full=(4.0, 4.0), children_full=9))
    assert not slow[name % "S3 (SeaweedFS)"][2]
    assert not slow["up-to-date run: no more store requests on a store holding 200 jobs' histories than on an "
                    "empty one"][2]


def test_a_store_only_page_is_written(tmp_path):
    data = store_results(STORE_STOPPED)
    data.update(meta={"n": 2, "load": [1.0, 2.0], "duration_s": 60}, downtime=[], noop={}, upload={}, scale={})
    report.write(data, tmp_path)
    page = (tmp_path / "benchmarks.md").read_text()
    assert "## 5. Durable state stores" in page and "| target | measured | result |" in page
