# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A run without the concurrency guard, for tests of the engine's own steps on a scripted
Flink (the lease writes records a script would have to answer; it has tests of its own:
test_deployment_lease.py, test_head.py)."""

from __future__ import annotations

from ansible_collections.flinkops.flink.plugins.module_utils._submit import submit_once


class Unleased:
    """The steps of ``_deployment_lease.DeploymentLease``, each doing only what the engine needs."""

    warnings = ()

    def acquire(self, run, current, spec):
        pass

    def next_job_id(self, run, spec):
        return None  # the engine's default id

    def submit(self, run, jar_id, body):
        return submit_once(run.client, jar_id, body)

    def check_started(self, run, job_id, spec):
        pass

    def confirm(self, run):
        pass

    def allow_rollback(self, run, failed_job_id, previous):
        pass

    def verify_running(self, run, current):
        pass

    def release(self, run, failure):
        pass
