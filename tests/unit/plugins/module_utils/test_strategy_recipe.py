# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The architecture page's recipe for a new strategy, followed literally (issue 29): a class in a
file of its own that subclasses ``_strategy.Strategy`` (and imports nothing that imports the
registry), registered in ``_strategies``; selected by its ``upgrade_mode`` with no change to the
engine or to any other strategy."""

from __future__ import annotations

import pytest

from ansible_collections.flinkops.flink.plugins.module_utils import _strategies
from ansible_collections.flinkops.flink.plugins.module_utils._strategy import Strategy
from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils.flinkfake import job, overview
from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils.test_engine import (  # noqa: F401 pylint: disable=unused-import
    engine,
    expect_run,
    fixed_job_ids,
    jar,
    sha,
    spec_of,
    upgrade_setup,
    uploaded,
)

TOY_STATE = "file:/toy/state-of-the-old-job"


class ToyStrategy(Strategy):
    """What ``plugins/module_utils/_strategy_toy.py`` would hold: cancel the old job and hand
    the new one a state location of its own choosing."""

    name = "toy"

    def take_down(self, run, current):
        run.changes.do("cancel job %s the toy way" % current["jid"], run.cancel, current["jid"])
        return TOY_STATE


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setattr(_strategies, "STRATEGIES", dict(_strategies.STRATEGIES))
    return _strategies.register(ToyStrategy)


def test_a_registered_strategy_is_selected_by_its_upgrade_mode(registered, client, script, jar, sha, uploaded):
    req, current = upgrade_setup(script, jar, sha, uploaded, upgrade_mode="toy")
    assert isinstance(_strategies.select_strategy(req, current, spec_of(req, sha), None), ToyStrategy)
    script.on("PATCH", "/jobs/%s" % current["jid"], {})
    script.on("GET", "/jobs/overview", overview(job(current["jid"], state="CANCELED", end=1)))
    expect_run(script, spec_of(req, sha))
    eng = engine(client, req)
    result = eng.run()
    assert result.action == "upgraded" and result.previous_job_id == current["jid"]
    # The engine started the new version from where the toy strategy said the state is.
    assert result.restored_from == TOY_STATE
    assert script.body_of("/run")["savepointPath"] == TOY_STATE
    assert "cancel job %s the toy way" % current["jid"] in eng.changes.actions


def test_the_built_in_strategies_are_registered_the_same_way():
    assert set(_strategies.STRATEGIES) >= {"savepoint", "last-state", "stateless", "blue-green"}
    assert all(cls.name == mode for mode, cls in _strategies.STRATEGIES.items())
