# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""Will the new program restore the running job's state? Asked before anything stops.

Flink maps saved state to the new job graph by vertex id, and a vertex id derives
from the uids of its operators. So, from REST alone:

- the running job's latest completed checkpoint lists, per vertex id, how many
  bytes of state it holds (``GET /jobs/:id/checkpoints``, then
  ``GET /jobs/:id/checkpoints/details/:cid``);
- the new program's plan (``POST /jars/:jarid/plan``, which the deployment runs
  anyway) lists its vertex ids and their parallelism.

A stateful vertex missing from the plan is state the restore would drop (or refuse
without allowNonRestoredState). A stateful vertex whose new parallelism exceeds the
old job's max parallelism cannot be restored at all. The running job's vertex names
and max parallelism (``GET /jobs/:id``) are read only when they matter: a vertex
vanished, or a stateful vertex grows beyond its old parallelism (the max
parallelism is never below that). A common upgrade costs two reads.

Limits, said in every message that refuses: the check works on vertices, not
operators (a changed operator chain gives a vertex a new id even when all its
operators kept their uids), and it does not check state serializers.
"""

from __future__ import annotations

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._hooks import Hooks
from ansible_collections.flinkops.flink.plugins.module_utils._request import is_planned
from ansible_collections.flinkops.flink.plugins.module_utils._rest import (
    checkpoint_details,
    job_checkpoints,
    job_details,
)

PASSED = "passed"
REFUSED = "refused"
NOT_RUN = "not_run"

LIMITS = ("the check compares job vertices, not operators: a changed operator chain gives a "
          "vertex a new id even when its operators kept their uids, so such a vertex is "
          "reported as vanished although Flink could restore it (set state_check: warn if "
          "you know the uids are unchanged); state serializers are not checked")


def latest_completed(checkpoints):
    """The latest completed checkpoint or savepoint in a /jobs/:id/checkpoints answer."""
    latest = (checkpoints or {}).get("latest") or {}
    completed = latest.get("completed")
    candidates = [c for c in (completed, latest.get("savepoint")) if c and c.get("id") is not None]
    if not candidates:
        return None
    return max(candidates, key=lambda c: c.get("latest_ack_timestamp") or 0)


def _state_size(task):
    # 1.x and 2.x name it state_size; checkpointed_size is the incremental part only.
    for key in ("state_size", "full_state_size", "checkpointed_size"):
        value = task.get(key)
        if isinstance(value, int) and value >= 0:
            return value
    return 0


def stateful_vertices(details):
    """{vertex id: {"state_size", "parallelism"}} of the vertices that hold state."""
    found = {}
    for vid, task in ((details or {}).get("tasks") or {}).items():
        size = _state_size(task or {})
        if size > 0:
            found[vid] = {"state_size": size, "parallelism": task.get("num_subtasks")}
    return found


def plan_vertices(plan):
    """{vertex id: {"name", "parallelism"}} of a /jars/:jarid/plan answer."""
    nodes = ((plan or {}).get("plan") or plan or {}).get("nodes") or []
    return dict((node["id"], {"name": _node_name(node), "parallelism": node.get("parallelism")})
                for node in nodes if node.get("id"))


def _node_name(node):
    # The plan's description is HTML-ish ("Source: x<br/>"); the operator field is plain.
    text = node.get("description") or node.get("operator") or node.get("id")
    return " ".join(text.replace("<br/>", " ").split())


def needs_job_details(details, plan):
    """True when the comparison needs the running job's names or max parallelism."""
    old = stateful_vertices(details)
    new = plan_vertices(plan)
    for vid, held in old.items():
        if vid not in new:
            return True
        grows = new[vid]["parallelism"] or 0
        if held["parallelism"] is None or grows > held["parallelism"]:
            return True
    return False


def compare(checkpoint, details, plan, job=None):
    """The pre-check's verdict on one checkpoint and one plan (pure; no requests).

    ``job`` is the /jobs/:id answer, needed only when ``needs_job_details`` says so.
    Returns a dict: outcome, checkpoint_id, stateful_vertices, vanished,
    dropped_state_bytes, parallelism_over_max, message.
    """
    old = stateful_vertices(details)
    new = plan_vertices(plan)
    known = dict((v.get("id"), v) for v in ((job or {}).get("vertices") or []))
    vanished = []
    over_max = []
    kept = []
    for vid in sorted(old):
        held = old[vid]
        vertex = known.get(vid, {})
        if vid not in new:
            vanished.append({"id": vid, "name": vertex.get("name") or vid,
                             "state_size": held["state_size"]})
            continue
        kept.append({"id": vid, "name": new[vid]["name"], "state_size": held["state_size"]})
        max_parallelism = vertex.get("maxParallelism")
        wanted = new[vid]["parallelism"]
        if isinstance(max_parallelism, int) and max_parallelism > 0 and \
                isinstance(wanted, int) and wanted > max_parallelism:
            over_max.append({"id": vid, "name": vertex.get("name") or new[vid]["name"],
                             "parallelism": wanted, "max_parallelism": max_parallelism})
    dropped = sum(v["state_size"] for v in vanished)
    outcome = REFUSED if vanished or over_max else PASSED
    result = {"outcome": outcome, "checkpoint_id": (checkpoint or {}).get("id"),
              "stateful_vertices": kept + vanished, "vanished": vanished,
              "dropped_state_bytes": dropped, "parallelism_over_max": over_max}
    result["message"] = describe(result)
    return result


def not_run(reason):
    return {"outcome": NOT_RUN, "checkpoint_id": None, "stateful_vertices": [], "vanished": [],
            "dropped_state_bytes": 0, "parallelism_over_max": [],
            "message": "state compatibility check could not run: %s" % reason}


def describe(result):
    """One sentence per finding, for messages, warnings and the role's plan."""
    where = "checkpoint %s" % result["checkpoint_id"]
    if result["outcome"] == PASSED:
        return ("state compatibility check passed: all %d stateful vertices of %s exist in the "
                "new program" % (len(result["stateful_vertices"]), where))
    parts = []
    if result["vanished"]:
        parts.append("%d stateful vertices of the running job are missing from the new "
                     "program, so %d bytes of state (%s) would be dropped: %s" % (
                         len(result["vanished"]), result["dropped_state_bytes"], where,
                         ", ".join("%s (%s, %d bytes)" % (v["name"], v["id"], v["state_size"])
                                   for v in result["vanished"])))
    if result["parallelism_over_max"]:
        parts.append("the new parallelism exceeds the old job's max parallelism, which the "
                     "saved state cannot be rescaled beyond: %s" % ", ".join(
                         "%s (%s): %d > %d" % (v["name"], v["id"], v["parallelism"],
                                               v["max_parallelism"])
                         for v in result["parallelism_over_max"]))
    return "; ".join(parts)


def verdict(result, mode, allow_non_restored_state):
    """What the deployment does with a result: ("fail" | "warn" | "ok", message).

    Vanished state is what allowNonRestoredState exists for, so with it set the
    vanished vertices are a warning. A parallelism over the max parallelism fails
    the restore whatever that flag says.
    """
    if mode == "off" or result is None:
        return "ok", None
    if result["outcome"] == NOT_RUN:
        return "warn", result["message"]
    if result["outcome"] == PASSED:
        return "ok", result["message"]
    refuse = bool(result["parallelism_over_max"]) or \
        (bool(result["vanished"]) and not allow_non_restored_state)
    if not refuse:
        return "warn", ("%s; allow_non_restored_state is true, so the upgrade goes on and "
                        "Flink drops that state" % result["message"])
    how = "" if allow_non_restored_state else \
        " Set allow_non_restored_state: true to drop that state on purpose."
    message = ("upgrade refused before anything stopped: %s.%s Limits: %s" % (
        result["message"], how, LIMITS))
    return ("fail" if mode == "strict" else "warn"), message


class StateCheckRefused(FlinkError):
    """The pre-check refused the upgrade; ``result`` is what it found."""

    def __init__(self, msg, result):
        self.result = result
        super().__init__(msg)


# ---------------------------------------------------------------------------
# The reads

def run(client, job_id, plan):
    """Read what the comparison needs for the running job ``job_id`` and compare.

    ``plan`` is the new program's /jars/:jarid/plan answer. Two GETs, a third
    (GET /jobs/:id) only when ``needs_job_details`` says so.
    """
    checkpoints = job_checkpoints(client, job_id)
    checkpoint = latest_completed(checkpoints)
    if checkpoint is None:
        return not_run("job %s has no completed checkpoint or savepoint yet, so Flink cannot "
                       "say which vertices hold state" % job_id)
    details = checkpoint_details(client, job_id, checkpoint["id"])
    if not isinstance(details, dict):
        # Flink keeps statistics of a few recent checkpoints only (web.checkpoints.history).
        return not_run("Flink no longer lists the details of checkpoint %s of job %s" % (
            checkpoint["id"], job_id))
    job = job_details(client, job_id) if needs_job_details(details, plan) else None
    return compare(checkpoint, details, plan, job)


def check_upgrade(client, job_id, plan, mode="strict", allow_non_restored_state=False):
    """The pre-check of an upgrade of the running job ``job_id`` to the program ``plan``.

    Returns ``(result, warning)``: the result is None with ``mode="off"``; the
    warning is a message to show (or None). Raises StateCheckRefused when the
    upgrade must not go on. ``plan`` None means the new program could not be
    planned (check mode with a JAR that is not uploaded yet).
    """
    if mode == "off":
        return None, None
    if plan is None:
        result = not_run("the new program could not be planned: its JAR is not on the cluster "
                         "yet and check mode uploads nothing (upload it first, e.g. with "
                         "flinkops.flink.flink_jar, to have check mode run the check)")
    else:
        result = run(client, job_id, plan)
    kind, message = verdict(result, mode, allow_non_restored_state)
    if kind == "fail":
        raise StateCheckRefused(message, result)
    return result, (message if kind == "warn" else None)


class StateCheckHook(Hooks):
    """The engine's ``pre_check`` hook: after the plan, before anything is recorded or stopped.

    Runs for an upgrade that carries state over (upgrade_mode savepoint or last-state),
    in check mode too (it only reads). A refusal fails the run with nothing changed.
    """

    def pre_check(self, run, current, spec, jar_id):
        request = run.request
        if current is None or request.upgrade_mode == "stateless":
            return
        plan = None if is_planned(jar_id) else run.plan
        try:
            found, warning = check_upgrade(run.client, current["jid"], plan, request.state_check,
                                           request.allow_non_restored_state)
        except StateCheckRefused as refused:
            run.result.state_check = refused.result
            raise
        run.result.state_check = found
        if warning:
            run.result.warnings.append(warning)
