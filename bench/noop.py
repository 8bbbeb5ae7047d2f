# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Part 2 of `make bench`: what a run costs when there is nothing to change."""

from __future__ import annotations

from flinkops_devkit.faultproxy import FaultProxy

from lab import BENCH, WORK, log, run_playbook, write_inventory


def run(lab):
    """Up-to-date runs of flink_job and the role against one read-only uri task; REST requests counted."""
    log("no-op runs")
    url = lab.cluster_a.url
    fj, rl = lab.state["flink_job"], lab.state["role"]
    runs = {
        "read_only": lambda u: run_playbook(BENCH / "playbooks" / "read_only.yml", write_inventory(
            WORK / "inventory-read.yml", {"localhost": {"bench_url": u}})),
        "flink_job": lambda u: lab.run_flink_job(u, fj["name"], fj["version"], fj["tag"]),
        "role": lambda u: lab.run_role(u, rl["name"], rl["version"], rl["tag"]),
    }
    walls = dict((key, []) for key in runs)
    changed = dict((key, []) for key in runs)
    for _run in range(lab.n):
        for key, func in runs.items():
            wall, recap = func(url)
            walls[key].append(wall)
            changed[key].append(recap["localhost"]["changed"])
    requests_seen = {}
    for key, func in runs.items():
        with FaultProxy(url) as proxy:
            _wall, recap = func(proxy.url)
            requests_seen[key] = [(method, path.split("?")[0]) for method, path in proxy.seen]
            changed[key].append(recap["localhost"]["changed"])
    lab.results["noop"] = {"walls": walls, "changed": changed, "requests": requests_seen}
    for key in runs:
        log("no-op %-9s walls %s changed %s requests %d" % (
            key, ["%.2f" % w for w in walls[key]], changed[key], len(requests_seen[key])))
