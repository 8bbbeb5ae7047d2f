# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""The options of one job (``flink_job``'s own, and each item of ``flink_jobs``' ``jobs``):
their argument spec, the checks Ansible's validation cannot express, and the engine's
``DeployRequest`` built from them. One place, so both modules accept exactly the same job."""

from __future__ import annotations

from ansible_collections.flinkops.flink.plugins.module_utils._request import (
    DeployRequest,
    is_absolute_location,
    relative_location_error,
)
from ansible_collections.flinkops.flink.plugins.module_utils._sealed import unmatched_secret_args

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    name_match=dict(type="str", choices=["exact", "prefix"], default="exact"),
    state=dict(type="str", choices=["running", "stopped"], default="running"),
    jar=dict(type="path"),
    jar_name=dict(type="str"),
    jar_id=dict(type="str"),
    entry_class=dict(type="str"),
    args=dict(type="list", elements="str", default=[]),
    parallelism=dict(type="int"),
    configuration=dict(type="dict", default={}),
    # Names flags or positions, never a secret value itself.
    secret_args=dict(type="list", elements="str", default=[], no_log=False),
    allow_non_restored_state=dict(type="bool", default=False),
    restore_mode=dict(type="str", choices=["claim", "no_claim"]),
    savepoint_path=dict(type="str"),
    resume=dict(type="bool", default=True),
    upgrade_mode=dict(type="str", choices=["savepoint", "last-state", "stateless", "blue-green"],
                      default="savepoint"),
    rescale_mode=dict(type="str", choices=["upgrade", "in-place"], default="upgrade"),
    savepoint_dir=dict(type="str"),
    savepoint_format=dict(type="str", choices=["canonical", "native"], default="canonical"),
    drain=dict(type="bool", default=False),
    savepoint_timeout=dict(type="float", default=1800),
    stop_mode=dict(type="str", choices=["savepoint", "drain", "cancel"], default="savepoint"),
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="float", default=300),
    health_window=dict(type="float", default=0),
    health_require_checkpoint=dict(type="bool", default=False),
    state_check=dict(type="str", choices=["strict", "warn", "off"], default="strict"),
    rollback=dict(type="bool", default=True),
    allow_start_empty=dict(type="bool", default=False),
    concurrent_deployment=dict(type="str", choices=["fail", "wait"], default="fail"),
    replace_running=dict(type="bool", default=True),
    concurrent_wait_timeout=dict(type="float", default=600),
)
MUTUALLY_EXCLUSIVE = [("jar", "jar_id")]
REQUIRED_IF = [("state", "running", ("jar", "jar_id"), True)]
# Options whose DeployRequest field has another name; every other option maps to
# the field of its own name.
RENAMED = {"jar": "jar_path"}
RANGES = (("savepoint_timeout", 1, 86400), ("wait_timeout", 1, 86400), ("health_window", 0, 86400),
          ("concurrent_wait_timeout", 0, 86400))


def deploy_request(options):
    """The engine's request, built once from one job's validated options."""
    return DeployRequest(**dict((RENAMED.get(option, option), options[option])
                                for option in ARGUMENT_SPEC))


def request_problems(request):
    """What is wrong with a request that the argument spec cannot say, in the order checked;
    each message is complete (the first one is the one a module fails with)."""
    found = []
    if not request.name.strip():
        found.append("name must not be empty: it is the job name Flink reports")
    if request.parallelism is not None and request.parallelism < 1:
        found.append("parallelism must be 1 or more, got %d" % request.parallelism)
    for option, low, high in RANGES:
        value = getattr(request, option)
        if not low <= value <= high:
            found.append("%s must be between %s and %s seconds, got %s" % (option, low, high, value))
    unmatched = unmatched_secret_args(request.args, request.secret_args)
    if unmatched:
        found.append("secret_args %s match no argument in args (a flag args holds, such as "
                     "--db-password, or a position from 0 to %d): a typo would leave the secret in "
                     "clear; nothing was changed" % (", ".join(unmatched), len(request.args) - 1))
    if request.health_window and not request.wait:
        found.append("health_window needs wait=true")
    if request.savepoint_dir and not is_absolute_location(request.savepoint_dir):
        found.append(relative_location_error("savepoint_dir", request.savepoint_dir))
    if request.health_require_checkpoint and not request.wait:
        found.append("health_require_checkpoint needs wait=true")
    return found
