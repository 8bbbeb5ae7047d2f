# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The job_deploy role with real-world inputs: a JAR path relative to the CI workspace, a job
without checkpointing under the role's defaults (issue 14, items 2 and 7)."""

from __future__ import annotations

import shutil
import subprocess

from flinkops_devkit.playbooks import PlaybookRun, ansible_env, playbook_command

DEPLOY = "flinkops.flink.deploy"


def run_in(cwd, variables, tmp_path, *options):
    """ansible-playbook flinkops.flink.deploy run from ``cwd``, as a CI job runs it."""
    proc = subprocess.run(playbook_command(DEPLOY, variables, tmp_path, *options), cwd=str(cwd),
                          capture_output=True, text=True, env=ansible_env(), timeout=900,
                          check=False)
    return PlaybookRun(proc)


def role_vars(flink, name, jar, kind=None, **overrides):
    entry_class = flink.jobs["zoo"][kind]["entry_class"] if kind else flink.entry_class
    variables = {
        "job_deploy_url": flink.url,
        "job_deploy_name": name,
        "job_deploy_jar": jar,
        "job_deploy_jar_name": name,
        "job_deploy_entry_class": entry_class,
        "job_deploy_args": ["--name", name, "--tag", name, "--rate", "100"],
        "job_deploy_health_window": 10,  # a checkpoint must complete in it, on a loaded machine
    }
    variables.update(overrides)
    return variables


def test_relative_jar_path_is_relative_to_where_ansible_playbook_runs(flink, unique_job_name, tmp_path):
    workspace = tmp_path / "workspace"
    (workspace / "target").mkdir(parents=True)
    shutil.copy(flink.jobs["stateful-v1"], workspace / "target" / "orders-job.jar")
    variables = role_vars(flink, unique_job_name, "target/orders-job.jar")

    planned = run_in(workspace, variables, tmp_path, "--check")
    assert planned.rc == 0, planned.output[-3000:]
    assert flink.active(unique_job_name) == []

    first = run_in(workspace, variables, tmp_path)
    assert first.rc == 0, first.output[-3000:]
    assert first.outcome["action"] == "started"
    assert flink.the_running_job(unique_job_name)["jid"] == first.outcome["job_id"]

    # The same relative path from another directory is another (missing) file: said so.
    elsewhere = run_in(tmp_path, variables, tmp_path)
    assert elsewhere.rc != 0
    assert str(tmp_path / "target" / "orders-job.jar") in elsewhere.output, elsewhere.output[-3000:]
    assert flink.the_running_job(unique_job_name)["jid"] == first.outcome["job_id"]


def test_role_default_checkpoint_gate_names_checkpointing_off_and_the_way_out(
        flink, unique_job_name, tmp_path):
    """job_deploy_health_require_checkpoint defaults to true; a job whose program never enables
    checkpointing can never prove a checkpoint. The gate fails saying why and how to opt out;
    with the gate off, the job deploys and upgrades with its state carried over."""
    zoo = flink.jobs["zoo"]["no-checkpoint"]
    variables = role_vars(flink, unique_job_name, zoo["jar"], kind="no-checkpoint")
    assert "job_deploy_health_require_checkpoint" not in variables  # the role's default
    refused = run_in(tmp_path, variables, tmp_path)
    assert refused.rc != 0
    assert "has checkpointing off" in refused.output, refused.output[-3000:]
    assert "health_require_checkpoint: false" in refused.output, refused.output[-3000:]

    gate_off = dict(job_deploy_health_require_checkpoint=False)
    first = run_in(tmp_path, dict(variables, **gate_off), tmp_path)
    assert first.rc == 0, first.output[-3000:]
    job = flink.the_running_job(unique_job_name)
    assert job["jid"] == first.outcome["job_id"]
    # An upgrade carries the state over by the stop's savepoint.
    second = run_in(tmp_path, role_vars(flink, unique_job_name, zoo["jars"]["v2"], kind="no-checkpoint",
                                        **gate_off), tmp_path)
    assert second.rc == 0, second.output[-3000:]
    assert second.outcome["action"] == "upgraded" and not second.outcome["rolled_back"]
    assert second.outcome["restored_from"] == second.outcome["savepoint"]
    assert flink.the_running_job(unique_job_name)["jid"] == second.outcome["job_id"]


def test_negative_parallelism_is_refused_not_the_cluster_default(flink, unique_job_name, tmp_path):
    before = flink.snapshot(unique_job_name)
    refused = run_in(tmp_path, role_vars(flink, unique_job_name, flink.jobs["stateful-v1"],
                                         job_deploy_parallelism=-1), tmp_path)
    assert refused.rc != 0
    assert "parallelism must be 1 or more, got -1" in refused.output, refused.output[-3000:]
    assert flink.snapshot(unique_job_name) == before
