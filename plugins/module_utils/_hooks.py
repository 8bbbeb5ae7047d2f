# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""Hook points of the engine, where checks plug in without editing it.

The engine calls every hook object of ``default_hooks()`` at fixed points of its order of
steps (see ``_engine``). A hook gets the running ``Engine`` (its ``client``, ``request``,
``result``, ``changes``, ``jobs``, ``runs``, ``current``) and must respect check mode
(``run.changes.check_mode``). The concurrency guard is not a hook: it is the run's lease
(``_deployment_lease``), which the engine calls by name at each of its steps.

Raising FlinkError from ``pre_check`` fails the run with nothing changed.
"""

from __future__ import annotations


class Hooks:
    """The hook points, each a no-op here. Subclass and override what you need."""

    def pre_check(self, run, current, spec, jar_id):
        """After the new program was planned, before anything is recorded or stopped.

        For a refusal that must cost no downtime (issue 17's state-compatibility
        pre-check). ``current`` is the running job (None for a fresh start);
        ``jar_id`` may be ``Planned`` in check mode.
        """

    def after_change(self, run, failure):
        """At the end of every run that got past the plan, successful (``failure``
        None) or not (the FlinkError that ends it), once the lease was released. For
        explaining a failure. Must not raise for a failure it only reads."""


def default_hooks():
    """The hook objects every flink_job run uses, in call order.

    Register a new hook by appending it here (one line, one import).
    """
    # Imported here: the hook classes subclass Hooks from this module.
    from ansible_collections.flinkops.flink.plugins.module_utils._health import FailureClassifier
    from ansible_collections.flinkops.flink.plugins.module_utils._precheck import StateCheckHook
    return [StateCheckHook(), FailureClassifier()]
