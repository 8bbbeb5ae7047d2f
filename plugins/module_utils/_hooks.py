# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""Hook points of the engine, where checks and guards plug in without editing it.

The engine calls every hook object of ``default_hooks()`` at fixed points of
its order of steps (see ``_engine``). A hook gets the running ``Engine`` (its
``client``, ``request``, ``result``, ``changes``, ``jobs``, ``runs``,
``current``) and must respect check mode (``run.changes.check_mode``): a hook
that changes the cluster does it through ``run.changes.do()``.

Raising FlinkError from a hook before the stop fails the run with nothing
changed.
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

    def before_change(self, run, current, spec):
        """Right before the first step that stops or starts a job.

        For the concurrency guard's claim and write-ahead intent (issue 13).
        """

    def job_id(self, run, spec):
        """The job id of the next submission of ``spec``, or None for the default
        (``_store.new_job_id``)."""
        return None

    def submit(self, run, jar_id, body):
        """Submit ``body`` (it carries the job id); return the job id, or None to
        let the engine's exactly-once submit (``_engine.submit_once``) do it."""
        return None

    def after_submit(self, run, job_id, spec):
        """Right after a submission was accepted, before waiting for the job.

        For checking the job that started is the one asked for (issue 13).
        """

    def after_running(self, run, job_id):
        """Once every task of a job this run submitted runs, before its health window.

        For records of the submission that can wait until the JobManager has scheduled
        and restored the job (the guard's confirmation): a request in that window
        competes with the restore for the JobManager.
        """

    def already_running(self, run, current):
        """The job asked for runs already (``current``): is it healthy? May raise, or set
        ``run.result.healthy`` (check mode)."""

    def before_rollback(self, run, failed_job_id, previous):
        """Before the previous version is started again after a failed upgrade.

        Raise FlinkError to refuse the rollback (the guard: never start an older
        version while another run's newer job is active); the run then fails
        saying it was not rolled back, and why.
        """

    def after_change(self, run, failure):
        """At the end of every run that got past the plan, successful (``failure``
        None) or not (the FlinkError that ends it). For the operation log.
        Must not raise for a failure it only records."""


def default_hooks():
    """The hook objects every flink_job run uses, in call order.

    Register a new hook by appending it here (one line, one import).
    """
    # Imported here: the hook classes subclass Hooks from this module. Order matters at each
    # hook point: the state check refuses before the guard claims the job; the classifier
    # reads a failure after the guard has had its say.
    from ansible_collections.flinkops.flink.plugins.module_utils._guard_hook import GuardHook
    from ansible_collections.flinkops.flink.plugins.module_utils._health import FailureClassifier
    from ansible_collections.flinkops.flink.plugins.module_utils._precheck import StateCheckHook
    return [StateCheckHook(), GuardHook(), FailureClassifier()]
