# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The getting-started guide's playbook, run as the guide says, against a real cluster."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from flinkops_devkit.playbooks import ansible_env, run_playbook

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


GUIDE = Path(__file__).resolve().parents[2] / "docs" / "docsite" / "rst" / "getting_started.rst"
REPO = Path(__file__).resolve().parents[2]


def guide_commands():
    """The shell commands of the guide's console blocks that use the harness or the playbook,
    in order, continuation lines joined (``make`` and installing are done by the test setup)."""
    text = GUIDE.read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"^\.\. code-block:: console\n\n((?:(?: {4}.*)?\n)+)", text, re.M):
        joined = re.sub(r"\\\n\s*", "", textwrap.dedent(block))
        commands += [line[2:] for line in joined.splitlines() if line.startswith("$ ")]
    return [c for c in commands
            if ("flinkctl " in c or "getting-started.yml" in c or "ANSIBLE_COLLECTIONS_PATH" in c)
            and "my-job" not in c]  # the own-job example needs a JAR of one's own


def test_guide_followed_literally_with_the_port_the_harness_chose(flink_versions, tmp_path):
    """The guide's commands as written (its cluster folder moved into tmp_path), on the first
    Flink version under test: the harness picks a free port, the guide's command finds it."""
    version = flink_versions[0]
    cluster_dir = tmp_path / "flink-demo"
    commands = [c.replace("/tmp/flink-demo", str(cluster_dir)).replace(" 2.3", " " + version)
                for c in guide_commands()]
    assert any(" start " in c for c in commands) and any(" stop " in c for c in commands)
    assert not any("8081" in c for c in commands), commands
    run_part = [c for c in commands if " stop " not in c]
    stop_part = [c for c in commands if " stop " in c]
    env = dict(ansible_env(), PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
               ANSIBLE_COLLECTIONS_PATH="")
    script = "set -euo pipefail\n" + "\n".join(run_part) + "\n" + \
        "echo \"FLINK_URL=$FLINK_URL\"\n" + "\n".join(stop_part) + "\n"
    try:
        proc = subprocess.run(["bash", "-c", script], cwd=str(REPO), env=env, capture_output=True,
                              text=True, timeout=900, check=False)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output[-4000:]
        url = re.search(r"^FLINK_URL=(http://127\.0\.0\.1:(\d+))$", output, re.M)
        assert url and url.group(2) != "8081", output[-3000:]
        assert "started: job" in output and "restored from empty state" in output, output[-3000:]
        # stop keeps the cluster folder, says so, and the savepoint/log folders are still there.
        assert "kept %s" % cluster_dir in output, output[-2000:]
        assert (cluster_dir / "log").is_dir() and (cluster_dir / "savepoints").is_dir()
    finally:
        subprocess.run([sys.executable, "-m", "flinkops_devkit.flinkctl", "stop",
                        "--dir", str(cluster_dir), "--delete"], capture_output=True, check=False,
                       timeout=300)
    assert not cluster_dir.exists()
