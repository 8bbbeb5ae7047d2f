# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a module of this collection the way Ansible does: its own process, JSON in, JSON out."""

from __future__ import annotations

import json
import os
import subprocess
import sys


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
