# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a module of this collection the way Ansible does: its own process, JSON in, JSON out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading


def collection_root():
    """The directory holding ``ansible_collections/`` from which this collection imports."""
    from ansible_collections.flinkops.flink import plugins
    return os.path.abspath(os.path.join(list(plugins.__path__)[0], "..", "..", "..", ".."))


def run_module(name, params, check=False, diff=False, timeout=900):
    """Return the module's result dict (with ``failed`` set on failure)."""
    args = dict(params)
    args["_ansible_check_mode"] = check
    args["_ansible_diff"] = diff
    env = dict(os.environ)
    env["PYTHONPATH"] = collection_root() + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-m", "ansible_collections.flinkops.flink.plugins.modules." + name],
        input=json.dumps({"ANSIBLE_MODULE_ARGS": args}), capture_output=True, text=True,
        env=env, timeout=timeout, check=False)
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError("module %s printed no JSON (rc %s):\n%s\n%s" % (
            name, proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
    result["_rc"] = proc.returncode
    return result


def warnings_of(result):
    """The module's warnings as text: strings up to ansible-core 2.18, summaries from 2.19."""
    return [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]


class ModuleRun:
    """A flink_job module process, started at once; ``result()`` waits for its JSON.
    ``label`` is the actor the guard names in its messages (as AWX's job id)."""

    def __init__(self, params, label, module="flink_job"):
        self.label = label
        env = dict(os.environ)
        env["PYTHONPATH"] = collection_root() + os.pathsep + env.get("PYTHONPATH", "")
        env["AWX_JOB_ID"] = label
        stdin = json.dumps({"ANSIBLE_MODULE_ARGS": dict(
            params, _ansible_check_mode=False, _ansible_diff=False)})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ansible_collections.flinkops.flink.plugins.modules." + module],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env)
        self._out = ("", "")
        # communicate() in a thread: several runs proceed at once.
        self._thread = threading.Thread(target=self._communicate, args=(stdin,), daemon=True)
        self._thread.start()

    def _communicate(self, stdin):
        self._out = self.proc.communicate(stdin, timeout=900)

    def kill(self):
        self.proc.kill()
        self._thread.join(30)

    def result(self):
        self._thread.join(900)
        stdout, stderr = self._out
        try:
            result = json.loads(stdout)
        except ValueError:
            raise AssertionError("run %s printed no JSON (rc %s):\n%s\n%s" % (
                self.label, self.proc.returncode, stdout[-3000:], stderr[-3000:]))
        result["_label"] = self.label
        return result


def at_once(*param_sets):
    """Start a flink_job run per parameter set within milliseconds; their results in order."""
    runs = [ModuleRun(params, "run-%d" % (i + 1)) for i, params in enumerate(param_sets)]
    return [run.result() for run in runs]
