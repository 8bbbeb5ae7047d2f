# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""Task slots: what a job takes and whether the cluster can ever give it that.

Judged from the plan before anything changes. A job that asks for more slots than the whole
cluster has would wait for slots and then fail (default scheduler), leaving a FAILED run and
a rollback behind; refusing first costs nothing.
"""

from __future__ import annotations

ELASTIC_TARGETS = ("kubernetes-session", "yarn-session")


def slots_needed(config, spec, plan=None):
    """Slots a job takes with Flink's default slot sharing: its widest operator in the plan
    (a lower bound when the job declares several slot sharing groups), else its parallelism,
    else the cluster's default."""
    nodes = ((plan or {}).get("plan") or {}).get("nodes") or []
    widths = [node.get("parallelism") for node in nodes if isinstance(node.get("parallelism"), int)]
    if widths:
        return max(widths)
    if spec.parallelism:
        return spec.parallelism
    return int(config.get("parallelism.default") or 1)


def _lowered(config, key):
    return str(config.get(key) or "").strip().lower()


def capacity_verdict(name, needed, overview, config):
    """(refusal, warning) for a job ``name`` that takes ``needed`` slots, each a text or None.

    Refused only when the cluster can never have the slots: its total is known, fixed (no
    active resource manager to add TaskManagers) and smaller. The adaptive scheduler runs a job
    with the slots there are: a warning then. Reactive mode sizes jobs to the cluster: nothing.
    """
    total = overview.get("slots-total")
    if not isinstance(total, int) or needed <= total or _lowered(config, "scheduler-mode") == "reactive":
        return None, None
    if _lowered(config, "execution.target") in ELASTIC_TARGETS:
        return None, None  # Kubernetes or YARN starts TaskManagers on demand
    if _lowered(config, "jobmanager.scheduler") == "adaptive":
        return None, ("job %s asks for %d task slots and the cluster has %d in all: the adaptive "
                      "scheduler runs it with at most %d" % (name, needed, total, total))
    return ("job %s needs at least %d task slots (the parallelism of its widest operator) and the "
            "cluster has %d in all (%s TaskManager(s)): Flink would wait for slots and then fail "
            "the job. Lower parallelism or add TaskManagers; nothing was changed" % (
                name, needed, total, overview.get("taskmanagers", "?"))), None
