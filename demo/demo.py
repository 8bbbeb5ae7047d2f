#!/usr/bin/env python
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""make demo: a local Flink cluster, a stateful job deployed, then updated with its state carried over.

Everything goes through the collection as a user runs it: flinkops.flink.flink_cluster_info
and the flinkops.flink.deploy playbook (role job_deploy). The cluster keeps running
afterwards so you can try the getting-started guide against it; `make demo-stop` stops it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from flinkops_devkit import flinkctl

ROOT = Path(__file__).resolve().parent.parent

VERSION = os.environ.get("FLINKOPS_DEMO_FLINK_VERSION", "2.3")
CLUSTER_DIR = Path(os.environ.get("FLINKOPS_DEMO_DIR", str(ROOT / "build" / "demo-cluster")))
JOB = "flinkops-demo"
COUNT = re.compile(r"FLINKOPS COUNT key=(\d+) count=(\d+) offset=(\d+) version=(\S+) tag=(\S+)$")
# The job's output is tagged per demo run, so a re-run reads only its own lines.
TAG = "demo-%d" % time.time()


def say(text):
    print("\n\033[1m==> %s\033[0m" % text if sys.stdout.isatty() else "\n==> %s" % text, flush=True)


def ansible(*args):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / "build"),
               ANSIBLE_SHOW_CUSTOM_STATS="true", ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    command = [os.path.join(os.path.dirname(sys.executable), args[0])] + list(args[1:])
    print("$ " + " ".join([args[0]] + command[1:]), flush=True)
    return subprocess.run(command, env=env, check=True)


def latest_counts(cluster, version):
    counts = {}
    for line in cluster.taskmanager_stdout().splitlines():
        match = COUNT.search(line)
        if match and match.group(4) == version and match.group(5) == TAG:
            counts[int(match.group(1))] = (int(match.group(2)), int(match.group(3)))
    return counts


def show_state(cluster, version, wait=6):
    time.sleep(wait)
    counts = latest_counts(cluster, version)
    for key in sorted(counts):
        print("   key %d: counted %5d records (up to source offset %d)  [job %s]"
              % (key, counts[key][0], counts[key][1], version))
    return counts


def start_cluster():
    if (CLUSTER_DIR / flinkctl.STATE_FILE).exists():
        cluster = flinkctl.Cluster.from_dir(CLUSTER_DIR)
        if flinkctl.rest(cluster.url, "GET", "/overview", timeout=5)[0] == 200:
            print("reusing the demo cluster at %s" % cluster.url)
            return cluster
        cluster.stop()
    cluster = flinkctl.Cluster(VERSION, name="demo", base_dir=CLUSTER_DIR, keep=True)
    cluster.detached = True  # it outlives this script, for the getting-started guide
    cluster.start()
    return cluster


def main():
    say("Provisioning Flink %s from PyPI and compiling the sample stateful job" % VERSION)
    jobs = flinkctl.build_jobs(VERSION)
    say("Starting a local Flink session cluster")
    cluster = start_cluster()
    print("Flink REST API: %s   (web UI at the same address)" % cluster.url)

    say("What flinkops.flink.flink_cluster_info sees")
    ansible("ansible", "localhost", "-m", "flinkops.flink.flink_cluster_info",
            "-a", "url=%s" % cluster.url)

    workdir = Path(tempfile.mkdtemp(prefix="flinkops-demo-"))
    base = {
        "job_deploy_url": cluster.url,
        "job_deploy_name": JOB,
        "job_deploy_entry_class": jobs["entry_class"],
        "job_deploy_args": ["--name", JOB, "--tag", TAG, "--rate", "200"],
        "job_deploy_health_window": 5,
    }
    for version in ("v1", "v2"):
        variables = dict(base, job_deploy_jar=jobs["stateful-%s" % version])
        (workdir / ("%s.json" % version)).write_text(json.dumps(variables))

    say("Deploying version 1 of the job with the job_deploy role")
    ansible("ansible-playbook", "flinkops.flink.deploy", "-e", "@%s" % (workdir / "v1.json"))
    say("Its keyed state (a counter per key) a few seconds later")
    before = show_state(cluster, "v1")

    say("Updating to version 2: stop with savepoint, start from it, health gate")
    ansible("ansible-playbook", "flinkops.flink.deploy", "-e", "@%s" % (workdir / "v2.json"))
    say("Version 2's state: each counter goes on from where version 1 stopped")
    after = show_state(cluster, "v2")
    carried = all(after.get(key, (0,))[0] > before[key][0] for key in before)
    print("\n   state carried over: %s" % ("yes" if carried and after else "NO"))

    say("Running the deployment again changes nothing")
    ansible("ansible-playbook", "flinkops.flink.deploy", "-e", "@%s" % (workdir / "v2.json"))

    print("\nThe cluster keeps running at %s for you to try things." % cluster.url)
    print("Stop it with: make demo-stop")
    return 0 if carried and after else 1


if __name__ == "__main__":
    sys.exit(main())
