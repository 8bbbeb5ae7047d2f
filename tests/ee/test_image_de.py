# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The built decision environment image against a real Flink cluster (``make test-de-image``).

``podman run IMAGE ansible-rulebook --rulebook flinkops.flink.self_heal`` (the rulebook
named as the issue's users name it, from the collection inside the image) watches a managed
job whose TaskManager is lost and whose restart strategy gives up; the heal playbook, run by
the rulebook inside the same container, brings it back from its latest checkpoint. Checked
through Flink's REST API and the operation log. The container is removed at the end.
"""

from __future__ import annotations

import os
import time
import uuid

import pytest
import yaml

from flinkops_devkit.modules import run_module

from conftest import OPEN_DIR, OPEN_FILE, engine, require_image

IMAGE = os.environ.get("DE_IMAGE", "localhost/flinkops-flink-de:latest")
FAILS_ONCE_LOST = {"restart-strategy.type": "none",
                   "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION"}


@pytest.fixture(scope="module", autouse=True)
def image_exists():
    require_image(IMAGE, "test-de-image")


def test_the_self_heal_rulebook_heals_a_failed_job_inside_the_image(flink, flink_cluster, unique_job_name, tmp_path):
    name = unique_job_name
    started = run_module("flink_job", dict(
        url=flink.url, name=name, jar=flink.jobs["stateful-v1"], entry_class=flink.entry_class,
        args=["--name", name, "--tag", name, "--rate", "400"], configuration=FAILS_ONCE_LOST))
    assert started["action"] == "started", started
    flink.wait_checkpoint(started["job_id"], after_ms=time.time() * 1000, timeout=60)

    files = tmp_path / "rulebook"
    files.mkdir(mode=OPEN_DIR)
    files.chmod(OPEN_DIR)
    (files / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}}}))
    (files / "vars.yml").write_text(yaml.safe_dump({"flink_jobs": [name], "flink_poll_interval": 1,
                                                    "flink_heal_max": 2, "flink_heal_window": 3600}))
    for path in files.iterdir():
        path.chmod(OPEN_FILE)
    container = "flinkops-de-test-%s" % uuid.uuid4().hex[:8]
    proc = engine("run", "-d", "--name", container, "--network", "host", "-v", "%s:/rulebook:ro" % files,
                  "-e", "FLINK_URL=%s" % flink.url, "-e", "ANSIBLE_NOCOLOR=1", "-e", "ANSIBLE_SHOW_CUSTOM_STATS=true",
                  IMAGE, "ansible-rulebook", "--rulebook", "flinkops.flink.self_heal",
                  "-i", "/rulebook/inventory.yml", "--vars", "/rulebook/vars.yml", "-v")
    assert proc.returncode == 0, proc.stdout + proc.stderr

    def logs():
        found = engine("logs", container)
        return found.stdout + found.stderr

    try:
        deadline = time.time() + 180
        while "Waiting for events" not in logs():
            assert time.time() < deadline, logs()[-3000:]
            time.sleep(1)
        time.sleep(3)  # a poll or two sees the job running
        flink_cluster.restart_taskmanager()
        deadline = time.time() + 300
        while True:
            assert len(flink.active(name)) <= 1, flink.active(name)
            healed = [job for job in flink.active(name) if job["jid"] != started["job_id"]
                      and job["state"] == "RUNNING" and job["tasks"]["running"] == job["tasks"]["total"]]
            if healed:
                break
            assert time.time() < deadline, logs()[-5000:]
            time.sleep(1)
        assert flink.state(started["job_id"]) == "FAILED"
        assert "/chk-" in flink.wait_restored(healed[0]["jid"], timeout=60)["external_path"]
        deadline = time.time() + 120
        while True:
            log = run_module("flink_job_info", dict(url=flink.url, name=name))["operations"]
            if log[0].get("job_id") == healed[0]["jid"] or time.time() > deadline:
                break
            time.sleep(2)
        assert log[0]["action"] == "started" and "flinkops.flink.heal" in log[0]["actor"], log[0]
        # The operation is logged before the submit; the playbook reports once the health window passed.
        deadline = time.time() + 120
        while '"outcome": "healed"' not in logs():
            assert time.time() < deadline, logs()[-5000:]
            time.sleep(2)
    finally:
        engine("rm", "-f", "--ignore", container)
