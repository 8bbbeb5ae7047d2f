# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The getting-started guide's playbook, run as the guide says, against a real cluster."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from flinkops_devkit.playbooks import ansible_env, run_playbook
from flinkops_devkit.provision import provision

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


def all_guide_commands():
    text = GUIDE.read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"^\.\. code-block:: console\n\n((?:(?: {4}.*)?\n)+)", text, re.M):
        joined = re.sub(r"\\\n\s*", "", textwrap.dedent(block))
        commands += [line[2:] for line in joined.splitlines() if line.startswith("$ ")]
    return commands


def guide_commands():
    """The shell commands of the guide's console blocks that use the harness or the playbook,
    in order, continuation lines joined (``make`` and installing are done by the test setup)."""
    return [c for c in all_guide_commands()
            if ("flinkctl " in c or "getting-started.yml" in c or "ANSIBLE_COLLECTIONS_PATH" in c)
            and "my-job" not in c]  # the own-job example needs a JAR of one's own (own_job_commands)


def own_job_commands():
    """The commands that deploy one's own job: the playbook's header comment, then the guide's."""
    header = re.findall(r"^#   (ansible-playbook .*?)(?=\n#\n)",
                        Path(PLAYBOOK).read_text(encoding="utf-8"), re.M | re.S)
    assert len(header) == 1, "the playbook's header shows no ansible-playbook command"
    commands = [re.sub(r"\\\n#\s*", "", header[0])]
    commands += [c for c in all_guide_commands() if "my-job" in c]
    assert len(commands) == 2 and all("target/my-job.jar" in c for c in commands), commands
    return commands


# "Your own job": a program that refuses any argument but --input (so the sample's arguments
# reaching it fail its main()), named my-job, one record per 100 ms.
MY_JOB = """package com.example;

import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

public class MyJob {
    public static void main(String[] args) throws Exception {
        for (int i = 0; i < args.length; i += 2) {
            if (!args[i].equals("--input") || i + 1 >= args.length) {
                throw new IllegalArgumentException("my-job: unexpected argument " + args[i]);
            }
        }
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.enableCheckpointing(1000);
        env.fromSequence(0, Long.MAX_VALUE).map(new Slow()).print();
        env.execute("my-job");
    }

    public static class Slow implements MapFunction<Long, Long> {
        @Override
        public Long map(Long value) throws Exception {
            Thread.sleep(100);
            return value;
        }
    }
}
"""


def own_job_workspace(version, workspace):
    """A directory as the guide assumes one's own project: target/my-job.jar, and the
    example playbook at docs/docsite/examples/ (a link to the checkout's)."""
    sources = workspace / "src"
    classes = workspace / "classes"
    (sources / "com" / "example").mkdir(parents=True)
    classes.mkdir()
    (sources / "com" / "example" / "MyJob.java").write_text(MY_JOB, encoding="utf-8")
    home = provision(version)
    subprocess.run(["javac", "--release", "11", "-nowarn", "-cp", str(home / "lib") + "/*",
                    "-d", str(classes), str(sources / "com" / "example" / "MyJob.java")],
                   check=True, capture_output=True, timeout=300)
    (workspace / "target").mkdir()
    subprocess.run(["jar", "cf", str(workspace / "target" / "my-job.jar"), "-C", str(classes), "."],
                   check=True, capture_output=True, timeout=120)
    (workspace / "docs").symlink_to(REPO / "docs")
    return workspace


def test_guide_followed_literally_with_the_port_the_harness_chose(flink_versions, tmp_path):
    """The guide's commands as written (its cluster folder moved into tmp_path), on the first
    Flink version under test: the harness picks a free port, the guide's command finds it."""
    version = flink_versions[0]
    cluster_dir = tmp_path / "flink-demo"
    commands = [c.replace("/tmp/flink-demo", str(cluster_dir)).replace(" 2.3", " " + version)
                for c in guide_commands()]
    assert any(" start " in c for c in commands) and any(" stop " in c for c in commands)
    assert not any("8081" in c for c in commands), commands
    # The playbook is run without -e flink_url: the play must take the FLINK_URL exported.
    assert not any("flink_url" in c for c in commands + own_job_commands()), commands
    run_part = [c for c in commands if " stop " not in c]
    stop_part = [c for c in commands if " stop " in c]
    workspace = own_job_workspace(version, tmp_path / "my-project")
    own_part = ["cd %s" % workspace] + own_job_commands() + ["cd %s" % REPO]
    env = dict(ansible_env(), PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
               ANSIBLE_COLLECTIONS_PATH="")
    env.pop("FLINK_URL", None)
    script = "set -euo pipefail\n" + "\n".join(run_part) + "\n" + \
        "echo \"FLINK_URL=$FLINK_URL\"\necho OWN-JOB-PART\n" + "\n".join(own_part) + "\n" + \
        "curl -s \"$FLINK_URL/jobs/overview\"; echo\n" + "\n".join(stop_part) + "\n"
    try:
        proc = subprocess.run(["bash", "-c", script], cwd=str(REPO), env=env, capture_output=True,
                              text=True, timeout=900, check=False)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output[-4000:]
        url = re.search(r"^FLINK_URL=(http://127\.0\.0\.1:(\d+))$", output, re.M)
        assert url and url.group(2) != "8081", output[-3000:]
        sample, own = proc.stdout.split("OWN-JOB-PART", 1)
        assert "started: job" in sample and "restored from empty state" in sample, output[-3000:]
        # One's own job: the header's command starts it without the sample's arguments (its
        # main() refuses them), the guide's command with --input upgrades it from a savepoint.
        assert own.count("started: job") == 1 and own.count("upgraded: job") == 1, own[-3000:]
        assert "restored from file:" in own, own[-3000:]
        overview = re.search(r'^\{"jobs":.*$', own, re.M)
        assert overview, own[-2000:]
        running = [job["name"] for job in json.loads(overview.group(0))["jobs"] if job["state"] == "RUNNING"]
        assert sorted(running) == ["flinkops-stateful", "my-job"], running
        # stop keeps the cluster folder, says so, and the savepoint/log folders are still there.
        assert "kept %s" % cluster_dir in output, output[-2000:]
        assert (cluster_dir / "log").is_dir() and (cluster_dir / "savepoints").is_dir()
    finally:
        subprocess.run([sys.executable, "-m", "flinkops_devkit.flinkctl", "stop",
                        "--dir", str(cluster_dir), "--delete"], capture_output=True, check=False,
                       timeout=300)
    assert not cluster_dir.exists()
