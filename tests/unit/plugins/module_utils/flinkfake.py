# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Flink's answers, in the shapes recorded from real 1.18.1 and 2.3.0 clusters."""

from __future__ import annotations


def job(jid, name="orders", state="RUNNING", running=None, total=2, finished=0, start=1,
        end=-1):
    running = (total - finished if state == "RUNNING" else 0) if running is None else running
    return {"jid": jid, "name": name, "state": state, "start-time": start, "end-time": end,
            "duration": 5, "tasks": {"total": total, "running": running, "finished": finished}}


def overview(*jobs):
    return {"jobs": list(jobs)}


def savepoint_done(location=None, failure=None):
    if failure:
        return {"status": {"id": "COMPLETED"},
                "operation": {"failure-cause": {"class": "java.io.IOException",
                                                "stack-trace": failure}}}
    return {"status": {"id": "COMPLETED"}, "operation": {"location": location}}


IN_PROGRESS = {"status": {"id": "IN_PROGRESS"}}


def checkpoints(completed=None, savepoint=None, restored=None, counts=None):
    answer = {"latest": {"completed": completed, "savepoint": savepoint, "restored": restored}}
    if counts is not None:
        answer["counts"] = counts
    return answer
