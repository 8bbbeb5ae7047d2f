# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The test jobs' heartbeats, read as they are written: the benchmarks' measure of records stopped.

The sample job (and the bench job) prints ``FLINKOPS HB offset=<n> ts=<ms> version=<v> tag=<t>``
every few records to the TaskManager's .out file. Heartbeats(cluster) tails those files and keeps
every heartbeat per tag: (offset, ts in ms, version).
"""

from __future__ import annotations

import re
import time

HB_RE = re.compile(r"FLINKOPS HB offset=(\d+) ts=(\d+) version=(\S+) tag=(\S*)")


class Heartbeats:
    """Tails the TaskManager .out files of a cluster; heartbeats per tag."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.pos = {}
        self.by_tag = {}

    def poll(self):
        for path in sorted(self.cluster.log_dir.glob("*taskexecutor*.out*")):
            with open(path, "rb") as handle:
                handle.seek(self.pos.get(path, 0))
                data = handle.read()
            end = data.rfind(b"\n") + 1
            self.pos[path] = self.pos.get(path, 0) + end
            for match in HB_RE.finditer(data[:end].decode("utf-8", "replace")):
                offset, ts, version, tag = match.groups()
                self.by_tag.setdefault(tag, []).append((int(offset), int(ts), version))

    def of(self, tag):
        self.poll()
        return self.by_tag.get(tag, [])

    def wait(self, tag, span_ms=1000, timeout=120.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            beats = self.of(tag)
            if beats and beats[-1][1] - beats[0][1] >= span_ms:
                return beats
            time.sleep(0.1)
        raise RuntimeError("no heartbeats of tag %s for %s ms after %ss" % (tag, span_ms, timeout))
