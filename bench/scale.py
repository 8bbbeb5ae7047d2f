# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Part 4 of `make bench`: 8 jobs on 2 clusters in one play."""

from __future__ import annotations

from flinkops_devkit.observer import running_job

from lab import BENCH, WORK, log, run_playbook, write_inventory


def run(lab, methods):
    """8 jobs on 2 clusters updated by one play with forks, against one job alone."""
    log("scale: cancelling the downtime jobs on cluster A")
    for method in methods:
        job = running_job(lab.rest, lab.state[method]["name"])
        if job:
            lab.rest.call("PATCH", "/jobs/%s?mode=cancel" % job["jid"])
    hosts = {}
    for i in range(8):
        cluster = lab.cluster_a if i % 2 == 0 else lab.cluster_b
        hosts["scale%d" % i] = {"url": cluster.url, "name": "bench-scale-%d" % i, "version": "v1",
                                "tag": "bench-scale-%d-0" % i}

    def play(limit=None):
        inventory = write_inventory(WORK / "inventory-scale.yml", dict(
            (h, lab.flink_job_vars(v["url"], v["name"], v["version"], v["tag"])) for h, v in hosts.items()))
        options = ["-f", "8"] + (["--limit", limit] if limit else [])
        return run_playbook(BENCH / "playbooks" / "flink_job.yml", inventory, *options)

    def toggle(host, rnd):
        spec = hosts[host]
        spec["version"] = "v2" if spec["version"] == "v1" else "v1"
        spec["tag"] = "%s-%d" % (spec["name"], rnd)

    log("scale: initial deployment of 8 jobs on 2 clusters")
    play()
    out = {"one": [], "eight": []}
    for rnd in range(1, lab.args.scale_n + 1):
        toggle("scale0", rnd)
        wall, recap = play(limit="scale0")
        if recap["scale0"]["changed"] != 1:
            raise RuntimeError("scale: one job not updated: %s" % recap)
        out["one"].append(wall)
        for host in hosts:
            toggle(host, rnd + 100)
        wall, recap = play()
        if sum(r["changed"] for r in recap.values()) != 8:
            raise RuntimeError("scale: not all 8 jobs updated: %s" % recap)
        out["eight"].append(wall)
        log("scale round %d: one job %.2fs, eight jobs %.2fs" % (rnd, out["one"][-1], out["eight"][-1]))
    lab.results["scale"] = out
