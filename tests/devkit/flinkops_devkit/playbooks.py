# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run ansible-playbook against this collection and read its recap and custom stats."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import yaml

from flinkops_devkit.modules import collection_root

_RECAP = re.compile(r"^localhost\s+:\s+(.*)$", re.MULTILINE)


class PlaybookRun:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.output = proc.stdout + proc.stderr
        match = _RECAP.search(proc.stdout)
        self.recap = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))) \
            if match else {}
        self.stats = {}
        if "CUSTOM STATS" in proc.stdout:
            text = proc.stdout.split("CUSTOM STATS", 1)[1]
            start = text.find("{")
            if start >= 0:
                self.stats = json.JSONDecoder().raw_decode(text[start:])[0]

    @property
    def outcome(self):
        return self.stats.get("job_deploy_result", {})


def ansible_env(extra=None):
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": collection_root(),
        "ANSIBLE_SHOW_CUSTOM_STATS": "true",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
    })
    env.update(extra or {})
    return env


def playbook_command(playbook, variables, tmp_path, *options):
    vars_file = tmp_path / ("vars-%d.yml" % len(list(tmp_path.glob("vars-*.yml"))))
    vars_file.write_text(yaml.safe_dump(variables))
    ansible_playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    return [ansible_playbook, playbook, "-e", "@%s" % vars_file] + list(options)


def run_playbook(playbook, variables, tmp_path, *options, env=None, timeout=900):
    proc = subprocess.run(playbook_command(playbook, variables, tmp_path, *options),
                          capture_output=True, text=True, env=ansible_env(env),
                          timeout=timeout, check=False)
    return PlaybookRun(proc)
