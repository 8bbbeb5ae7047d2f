#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: flink_cluster_info
short_description: Read a Flink cluster's version, capacity and deployment settings
version_added: 0.1.0
description:
  - Reads what a deployment needs to know about a Flink session cluster before it changes anything
    the Flink version, TaskManagers and free slots, job counts, and the savepoint and checkpoint
    settings.
  - Makes three read-only REST calls (C(/config), C(/overview), C(/jobmanager/config)).
author:
  - Flinkops Contributors (@flinkops)
extends_documentation_fragment:
  - flinkops.flink._connection
  - flinkops.flink._attributes
  - flinkops.flink._attributes.actiongroup
  - flinkops.flink._attributes.info_module
options: {}
"""

EXAMPLES = r"""
- name: Read the cluster
  flinkops.flink.flink_cluster_info:
    url: http://localhost:8081
  register: cluster

- name: Refuse to deploy without enough free slots
  ansible.builtin.assert:
    that: cluster.overview.slots_available >= 4
    fail_msg: "Only {{ cluster.overview.slots_available }} free slots on Flink {{ cluster.flink_version }}"

- name: Connection set once for every module of the collection
  module_defaults:
    group/flinkops.flink.flink:
      url: https://flink.example.com
      url_username: deployer
      url_password: "{{ vault_flink_password }}"
      ca_path: /etc/ssl/flink-ca.pem
  block:
    - name: Read the cluster behind a proxy with basic auth and TLS
      flinkops.flink.flink_cluster_info:
"""

RETURN = r"""
flink_version:
  description: The Flink version the cluster reports.
  returned: success
  type: str
  sample: 2.3.0
flink_revision:
  description: The Flink build revision.
  returned: success
  type: str
  sample: 1f3e45a @ 2026-03-01T10:00:00+01:00
overview:
  description: Capacity and job counts.
  returned: success
  type: dict
  contains:
    taskmanagers:
      description: Registered TaskManagers.
      type: int
      sample: 2
    slots_total:
      description: Task slots of all TaskManagers.
      type: int
      sample: 8
    slots_available:
      description: Task slots not used by any job.
      type: int
      sample: 6
    jobs_running:
      description: Jobs in state RUNNING.
      type: int
      sample: 1
    jobs_finished:
      description: Jobs that finished (for example after a stop with savepoint).
      type: int
      sample: 0
    jobs_cancelled:
      description: Jobs that were cancelled.
      type: int
      sample: 0
    jobs_failed:
      description: Jobs that failed.
      type: int
      sample: 0
  sample:
    taskmanagers: 1
    slots_total: 8
    slots_available: 7
    jobs_running: 1
    jobs_finished: 0
    jobs_cancelled: 0
    jobs_failed: 0
configuration:
  description: The cluster settings that matter for deployments.
  returned: success
  type: dict
  contains:
    savepoint_dir:
      description: Default target directory for savepoints, or V(null) if the cluster has none.
      type: str
      sample: s3://bucket/savepoints
    checkpoint_dir:
      description: Directory for checkpoints, or V(null).
      type: str
      sample: s3://bucket/checkpoints
    checkpoint_interval:
      description: The cluster-wide default checkpoint interval, or V(null) if jobs set their own.
      type: str
      sample: 10 s
    externalized_checkpoint_retention:
      description: Whether checkpoints are kept when a job is cancelled (needed by upgrade mode V(last-state)).
      type: str
      sample: RETAIN_ON_CANCELLATION
    restart_strategy:
      description: The default restart strategy, or V(null).
      type: str
      sample: exponential-delay
    default_parallelism:
      description: The default parallelism of jobs.
      type: str
      sample: "1"
    refresh_interval_ms:
      description: How long Flink caches job details in its REST answers.
      type: int
      sample: 3000
  sample:
    savepoint_dir: file:///var/flink/savepoints
    checkpoint_dir: file:///var/flink/checkpoints
    checkpoint_interval: null
    externalized_checkpoint_retention: null
    restart_strategy: null
    default_parallelism: "1"
    refresh_interval_ms: 3000
"""

from ansible_collections.flinkops.flink.plugins.module_utils._module import FlinkModule
from ansible_collections.flinkops.flink.plugins.module_utils._jobstate import cluster_info


def read_cluster(module):
    module.exit(**cluster_info(module.client))


def main():
    FlinkModule(argument_spec={}).run(read_cluster)


if __name__ == "__main__":
    main()
