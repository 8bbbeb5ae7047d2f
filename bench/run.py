# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""`make bench`: downtime and cost of a deployment against the floor and the Flink CLI.

Runs on real local Flink clusters (flinkops_devkit.flinkctl): cluster A for the
downtime, no-op, upload and store measurements, cluster B joins for the scale test.
Writes docs/benchmarks.md and docs/benchmarks-downtime.png (bench/report.py),
and the raw data to build/bench/results.json. The parts: downtime.py (update downtime per
method), noop.py (no-op cost), store.py (flink_job with a durable state_store: downtime, round
trips, a store of 200 jobs), upload.py (a big JAR), scale.py (8 jobs on 2 clusters); what they
share (clusters, job specs, running Ansible) is lab.py. Needs the collection on the
Python path (PYTHONPATH=build, as `make bench` sets it) and the dev package flinkops_devkit.

    python bench/run.py [--n 5] [--upload-mb 512] [--only downtime,noop,store,upload,scale]
    python bench/run.py --report-only build/bench/results.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import noop
import report
import scale
import store
import upload
from downtime import METHODS, Downtime
from lab import ROOT, WORK, Lab, log


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--n", type=int, default=int(os.environ.get("BENCH_N", "5")),
                        help="updates per method, and no-op runs per kind (default 5)")
    parser.add_argument("--upload-mb", type=int, default=512)
    parser.add_argument("--upload-n", type=int, default=3, help="uploads per tool (default 3)")
    parser.add_argument("--scale-n", type=int, default=3, help="rounds of the scale test (default 3)")
    parser.add_argument("--only", default="downtime,noop,store,upload,scale")
    parser.add_argument("--report-only", metavar="RESULTS_JSON")
    parser.add_argument("--docs", default=str(ROOT / "docs"))
    args = parser.parse_args(argv)
    if args.report_only:
        results = json.loads(Path(args.report_only).read_text())
        report.write(results, Path(args.docs))
        return 0
    only = set(args.only.split(","))
    lab = Lab(args)
    started = time.time()
    try:
        lab.start()
        lab.meta()
        if "downtime" in only or "noop" in only:
            Downtime(lab).run()
        if "noop" in only:
            noop.run(lab)
        if "store" in only:  # before scale: that part cancels the jobs the store part updates
            store.run(lab)
        if "upload" in only:
            upload.run(lab)
        if "scale" in only:
            scale.run(lab, METHODS)
    finally:
        lab.stop()
    lab.results["meta"]["load"] = [s[1] for s in lab.load.samples]
    lab.results["meta"]["duration_s"] = time.time() - started
    (WORK / "results.json").write_text(json.dumps(lab.results, indent=1) + "\n")
    report.write(lab.results, Path(args.docs))
    log("wrote %s/benchmarks.md and results %s" % (args.docs, WORK / "results.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
