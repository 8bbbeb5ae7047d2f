# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 16's shape of plugins/module_utils: rooms of at most 400 lines, and an engine that
never reads Ansible's params (it works on the plain DeployRequest); and tooling that imports
its helpers from one dev package instead of editing sys.path."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from ansible_collections.flinkops.flink.plugins import module_utils

ROOMS = sorted(Path(list(module_utils.__path__)[0]).glob("*.py"))


@pytest.mark.parametrize("room", ROOMS, ids=lambda path: path.name)
def test_each_room_has_at_most_400_lines(room):
    assert len(room.read_text(encoding="utf-8").splitlines()) <= 400


# The module side: the AnsibleModule adapter and the redaction of the module's secret options.
MODULE_SIDE = ("_module.py", "_secrets.py")


@pytest.mark.parametrize("room", [p for p in ROOMS if p.name not in MODULE_SIDE], ids=lambda path: path.name)
def test_no_engine_room_reads_params(room):
    assert "params[" not in room.read_text(encoding="utf-8")


# The tooling imports its helpers from the dev package tests/devkit (flinkops_devkit, installed
# into every venv by `make venv`), never by editing the import path.
REPO = Path(__file__).resolve().parents[2]
SKIPPED_DIRS = {".git", "build", "output", "__pycache__", ".ansible", ".cache", ".pytest_cache"}
PATH_EDIT = re.compile(r"\bsys\.path\.(insert|append)\s*\(")


def repo_python_files():
    for root, dirs, files in os.walk(REPO):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith(".venv"))
        for name in sorted(files):
            if name.endswith(".py"):
                yield Path(root) / name


def test_the_layout_rule_sees_the_tooling():
    names = {path.relative_to(REPO).as_posix() for path in repo_python_files()}
    assert {"bench/run.py", "tests/devkit/flinkops_devkit/flinkctl.py", "demo/demo.py"} <= names


def test_no_python_file_edits_sys_path():
    offenders = ["%s:%d" % (path.relative_to(REPO).as_posix(), number)
                 for path in repo_python_files()
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
                 if PATH_EDIT.search(line)]
    assert offenders == [], "import from flinkops_devkit (tests/devkit) instead: %s" % offenders
