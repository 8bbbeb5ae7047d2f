# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The shape of plugins/module_utils: imports without cycles, the records' storage below the
code that uses it, and an engine that never reads Ansible's params (it works on the plain
DeployRequest); and tooling that imports its helpers from one dev package instead of editing
sys.path. Size is not a rule here: a room that grows is split by purpose."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from ansible_collections.flinkops.flink.plugins import module_utils

ROOT = Path(list(module_utils.__path__)[0])
ROOMS = sorted(ROOT.glob("*.py"))
PACKAGE = "ansible_collections.flinkops.flink.plugins.module_utils."
IMPORT = re.compile(r"^from ansible_collections\.flinkops\.flink\.plugins\.module_utils\.([\w.]+) import",
                    re.MULTILINE)


PACKAGE_IMPORT = re.compile(r"^from ansible_collections\.flinkops\.flink\.plugins\.module_utils\.([\w.]+) "
                            r"import ([\w, ]+)$", re.MULTILINE)


def module_level_imports(path):
    """The module_utils rooms a file imports at module level (not inside functions); for
    ``from <package> import a, b`` the rooms ``<package>.a`` and ``<package>.b``."""
    text = "\n".join(line for line in path.read_text(encoding="utf-8").splitlines()
                     if not line.startswith((" ", "\t")))
    rooms = set(IMPORT.findall(text))
    for package, names in PACKAGE_IMPORT.findall(text):
        if (ROOT / package.replace(".", "/")).is_dir():
            rooms.discard(package)
            rooms.update("%s.%s" % (package, name.strip()) for name in names.split(","))
    return rooms


def room_name(path):
    return path.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")


def import_graph():
    return dict((room_name(path), module_level_imports(path))
                for path in sorted(ROOT.rglob("*.py")) if path.name != "__init__.py")


def test_module_utils_imports_have_no_cycle():
    graph = import_graph()
    done, path = set(), []

    def visit(room):
        assert room not in path, "import cycle: %s" % " -> ".join(path[path.index(room):] + [room])
        if room in done:
            return
        path.append(room)
        for target in sorted(graph.get(room, ())):
            visit(target)
        path.pop()
        done.add(room)

    for room in sorted(graph):
        visit(room)


# The records' storage (_records) sits below the record code and the engine: it may use
# only the Flink client, the REST layer and redaction.
RECORDS_MAY_IMPORT = ("_records.", "_client", "_rest", "_redact", "_transport")


def test_the_records_layer_imports_only_downwards():
    upward = sorted("%s -> %s" % (room, target) for room, targets in import_graph().items()
                    if room.startswith("_records.") for target in targets
                    if not target.startswith(RECORDS_MAY_IMPORT))
    assert upward == []


def test_the_layering_rule_sees_the_records_layer():
    graph = import_graph()
    assert {"_records._state", "_records._backend", "_records._jarstore"} <= set(graph)
    assert {"_records._backend", "_records._zookeeper"} <= graph["_records._state"]


HTTP_CALL = re.compile(r"\bclient\.(get|post|patch|put|delete|request)\(")


def test_every_flink_rest_call_is_made_in_the_rest_layer():
    """Every path and body of Flink's REST API is in _rest.py, one thin function each."""
    rooms = sorted(ROOT.rglob("*.py")) + sorted((ROOT.parent / "modules").glob("*.py"))
    outside = ["%s:%d" % (path.name, number) for path in rooms if path.name != "_rest.py"
               for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
               if HTTP_CALL.search(line)]
    assert outside == []


def test_the_rest_rule_sees_the_calls():
    assert HTTP_CALL.search((ROOT / "_rest.py").read_text(encoding="utf-8"))


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
