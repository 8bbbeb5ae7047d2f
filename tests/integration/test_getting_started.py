# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The getting-started guide's playbook, run as the guide says, against a real cluster."""

from __future__ import annotations

from pathlib import Path

from playbooks import run_playbook

PLAYBOOK = str(Path(__file__).resolve().parents[2] / "docs" / "docsite" / "examples" /
               "getting-started.yml")


def test_getting_started_playbook_as_written(flink, unique_job_name, tmp_path):
    variables = {"flink_url": flink.url, "job_jar": flink.jobs["stateful-v1"],
                 "job_entry_class": flink.entry_class, "job_name": unique_job_name,
                 "job_args": ["--name", unique_job_name, "--tag", unique_job_name]}
    first = run_playbook(PLAYBOOK, variables, tmp_path)
    assert first.rc == 0, first.output[-3000:]
    assert "started: job" in first.output and "restored from empty state" in first.output
    job = flink.the_running_job(unique_job_name)

    # "Run it twice: the second run changes nothing."
    second = run_playbook(PLAYBOOK, variables, tmp_path)
    assert second.rc == 0 and second.recap["changed"] == 0, second.output[-3000:]
    assert flink.the_running_job(unique_job_name)["jid"] == job["jid"]

    # "Change job_args and run it again: ... the new version starts from it."
    flink.wait_counts(unique_job_name, "v1", minimum=2)
    changed = dict(variables, job_args=variables["job_args"] + ["--keys", "4"])
    third = run_playbook(PLAYBOOK, changed, tmp_path)
    assert third.rc == 0, third.output[-3000:]
    assert "upgraded: job" in third.output
    new = flink.the_running_job(unique_job_name)
    assert new["jid"] != job["jid"] and flink.state(job["jid"]) == "FINISHED"
    assert flink.wait_restored(new["jid"])["is_savepoint"]
