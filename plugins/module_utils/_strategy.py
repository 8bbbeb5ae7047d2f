# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""The base of every stop-then-start upgrade strategy (the registry is ``_strategies``)."""

from __future__ import annotations


class Strategy:
    """Replace the running job ``current`` by ``spec``; the base is stop-then-start."""

    name = None
    # The old job ends before the new one runs: a failing new one needs the old one back, so
    # the engine checks before the stop that it could start again (``check_rollback_possible``).
    stops_first = True

    def upgrade(self, run, current, spec, jar_id, previous):
        """Stop the old job (``take_down``), then start the new version from its state;
        if that fails, ``run.start_or_roll_back`` brings the old one back.

        ``previous`` is the running job's recorded spec (a dict) or None.
        """
        restore = self.take_down(run, current)
        run.result.update(previous_job_id=current["jid"], action="upgraded")
        run.start_or_roll_back(spec, jar_id, restore, previous)

    def take_down(self, run, current):
        """End ``current``; return where its state is (a path, None, or Planned)."""
        raise NotImplementedError
