# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 16's shape of plugins/module_utils: rooms of at most 400 lines, and an engine that
never reads Ansible's params (it works on the plain DeployRequest)."""

from __future__ import annotations

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
