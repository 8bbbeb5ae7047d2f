#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: flink_job
short_description: Make sure a Flink job runs a given JAR and arguments, with its state carried over
version_added: 0.1.0
description:
  - Declares that the job called O(name) runs this JAR, entry class, arguments, parallelism and
    configuration on a Flink session cluster, and makes it so through the REST API.
  - B(Same spec already running:) nothing is changed and no request that changes anything is sent;
    a job that is not healthy yet is waited for.
    The module recognises its own submissions without any state store; the job id it chooses
    starts with a fingerprint of the spec.
  - B(Nothing running:) the job is started from O(savepoint_path); or, with O(resume=true), from the
    savepoint of the most recent stopped run of this job that the cluster still knows, so a play
    interrupted after the stop is finished by running it again.
  - B(A different spec running:) the job is upgraded as O(upgrade_mode) says. Before anything
    stops, the JAR is uploaded and the new program's job graph is planned, so a program that fails
    in C(main()) costs no downtime. The old job is stopped with an atomic stop-with-savepoint (never
    savepoint-then-cancel), and only a savepoint that completed without a failure cause lets the
    upgrade go on. The new job is submitted exactly once, from exactly that savepoint.
  - Before anything stops, a state-compatibility pre-check (O(state_check)) compares the stateful
    vertices of the running job's latest completed checkpoint with the new program's plan, and refuses
    an upgrade that would drop state or exceed the old max parallelism. Check mode runs it too.
  - If the new version cannot start or is not healthy, the previous version is started again from
    the same savepoint (O(rollback)) and the task fails, saying what failed and what runs now.
  - The role C(flinkops.flink.job_deploy) wraps this module into a whole deployment with
    pre-flight checks, a health gate and reporting.
author:
  - Flinkops Contributors (@flinkops)
extends_documentation_fragment:
  - flinkops.flink._connection
  - flinkops.flink._attributes
  - flinkops.flink._attributes.actiongroup
attributes:
  check_mode:
    support: full
    details:
      - Check mode only reads, and plans the new job graph when its JAR is already uploaded (planning creates no job).
      - RV(actions) lists what would be done, for example the stop with savepoint and the start from it.
  diff_mode:
    support: full
    details:
      - Shows the spec of the running job (when it was started by this collection) and the spec asked for.
  idempotent:
    support: full
options:
  name:
    description:
      - The job name Flink reports (the name the program passes to C(execute())). Must not be empty.
      - After a submission the module checks the name of the job that started; a job of another
        name (with O(name_match=prefix), one not starting with O(name)) is cancelled and the task
        fails naming both names.
    type: str
    required: true
  name_match:
    description:
      - V(exact) matches the name exactly; V(prefix) matches jobs whose name starts with O(name), for
        programs that put a version in the job name.
      - More than one active job matching is an error that names their ids.
    type: str
    choices: [exact, prefix]
    default: exact
  state:
    description:
      - V(running) makes sure the job runs with the given spec; V(stopped) stops it (see O(stop_mode)).
    type: str
    choices: [running, stopped]
    default: running
  jar:
    description:
      - Local path of the job JAR; uploaded once per content, like M(flinkops.flink.flink_jar) does.
      - Required with O(state=running) unless O(jar_id) or O(version) is given.
    type: path
  jar_name:
    description:
      - Name to upload O(jar) under; defaults to its file name.
    type: str
  jar_id:
    description:
      - Id of a JAR already uploaded, as returned by M(flinkops.flink.flink_jar).
    type: str
  entry_class:
    description:
      - The program's main class; defaults to the JAR manifest's C(Main-Class).
      - An empty string means the same as not setting it.
    type: str
  args:
    description:
      - Program arguments, one list item per argument. Sent as Flink's list form, so spaces and
        quotes inside an argument survive on every Flink version.
    type: list
    elements: str
    default: []
  parallelism:
    description:
      - Job parallelism; the cluster default when not set.
    type: int
  configuration:
    description:
      - Flink configuration for this job only (for example C(execution.checkpointing.interval)).
      - Values are sent in Flink's flat string form, and two spellings of one value are one spec (no
        restart). Booleans become V(true)/V(false), numbers their decimal text, a list Flink's list
        form V(a;b;c) (an item holding C(;) is quoted), and a nested dictionary is flattened into
        dotted keys the way Flink reads a nested C(config.yaml) (key C(interval) inside C(checkpointing)
        inside C(execution) is C(execution.checkpointing.interval)).
      - A V(null) value is refused with an error naming the key; leave the key out to use the
        cluster's setting.
    type: dict
    default: {}
  secret_args:
    description:
      - Program arguments whose values are secret, as flags (the value after V(--flag), or after
        C(=) in V(--flag=value)) or as 0-based positions in O(args).
      - Secret values are never stored in the spec records everyone who can read C(GET /jars) sees,
        nor shown in results, diffs or C(-vvv) output; records hold a salted PBKDF2 hash instead, so a
        changed secret still upgrades the job and an unchanged one is a no-op.
      - The value after a flag whose name contains C(password), C(secret), C(token), C(apikey),
        C(api-key) (the words Flink itself treats as sensitive) is secret without being listed,
        and so is every O(configuration) key containing one of them (for example C(s3.secret-key)).
      - A rollback needs the clear values. They are taken from this run's O(args) and O(configuration)
        when their hashes match, else the rollback is refused, naming the argument or key.
      - Every entry must name an argument O(args) holds (a flag, or a position); an entry that matches
        none (a typo that would leave the secret in clear) fails the task before anything changes.
    type: list
    elements: str
    default: []
  allow_non_restored_state:
    description:
      - Start even if the savepoint holds state for operators the new program no longer has.
      - That state is dropped. Leave this V(false) unless you removed an operator on purpose.
      - With V(true), vertices O(state_check) finds missing are a warning, not a refusal.
    type: bool
    default: false
  state_check:
    description:
      - The state-compatibility pre-check of an upgrade (O(upgrade_mode=savepoint) or V(last-state)),
        run after the new program is planned and before anything stops, in check mode too.
      - It reads the running job's latest completed checkpoint (2 REST reads; a third, C(GET /jobs/:id),
        only when it finds something or a stateful vertex's parallelism grows). Every vertex that holds
        state there must exist in the new program's plan, and the new parallelism of a stateful vertex
        must not exceed the old job's max parallelism.
      - V(strict) fails the task before the stop, naming the vertices and the bytes of state that would be
        dropped (unless O(allow_non_restored_state=true), which turns missing vertices into a warning).
        V(warn) only warns and lets Flink's restore decide (and O(rollback) act). V(off) skips it.
      - Limits. It compares job vertices, not operators, and a vertex id derives from the uids of all
        operators chained into it, so a changed operator chain is reported as a missing vertex even
        when every operator kept its uid (use V(warn) then). State serializers are not compared.
      - When the job has no completed checkpoint yet, or check mode cannot plan a JAR that is not
        uploaded, the check says it could not run (a warning) and the upgrade goes on.
    type: str
    choices: [strict, warn, "off"]
    default: strict
  restore_mode:
    description:
      - How the new job owns the savepoint it starts from. V(no_claim) (Flink's default) leaves it
        untouched so it stays a safe rollback point; V(claim) lets Flink delete it later.
      - When not set, the field is not sent and Flink's default applies.
    type: str
    choices: [claim, no_claim]
  savepoint_path:
    description:
      - Start from this savepoint (or retained checkpoint) when the job is not running.
      - With O(upgrade_mode=stateless), the upgraded job starts from it too.
    type: str
  resume:
    description:
      - When nothing runs and O(savepoint_path) is not set, start from the savepoint of the most
        recent stopped run of this job that the cluster still knows (Flink keeps finished jobs for
        C(jobstore.expiration-time), one hour by default).
    type: bool
    default: true
  upgrade_mode:
    description:
      - How a running job with a different spec is replaced.
      - V(savepoint) stops it with an atomic stop-with-savepoint and starts the new version from it.
        A crash-looping job (it cannot take a savepoint) is cancelled instead and the new version starts
        from its latest completed checkpoint (which must be retained on cancellation), or from the
        savepoint it was started from when it completed none; without either the upgrade is refused.
      - V(last-state) cancels it and starts the new version from its latest completed checkpoint;
        needs checkpoints retained on cancellation. Records since that checkpoint are processed again.
      - V(stateless) cancels it and starts the new version without state (or from O(savepoint_path)).
      - V(blue-green) keeps the running job (blue) processing while the new version (green) starts
        beside it from a savepoint of blue taken B(without stopping it). Green must pass a gate (every
        task running, a checkpoint completed, then O(health_window) without a restart, and, where the
        sources report C(pendingRecords), caught up with blue's input, see RV(catch_up)); then blue is
        stopped with a final savepoint (RV(savepoint)) and only green runs. If green fails its gate,
        green is cancelled and blue is left untouched (same job id, never paused), and the task fails.
        Needs free task slots for both versions at once (checked before anything happens).
      - B(During a blue/green overlap both versions process the stream) (RV(overlap_seconds)). That is fine for
        idempotent or upsert sinks, duplicates for others. Give green its own sink identities (a Kafka
        transactional-id prefix, a consumer group, an output table) through O(args) or
        O(configuration) when that matters.
      - A blue/green run interrupted after green started, or whose final stop of blue failed, leaves
        two jobs of the name. The next run of the job finishes that handover first (gate green, then
        stop blue with a savepoint, or cancel green), whatever its O(upgrade_mode), spec or O(state);
        a run of another spec then goes on from green.
    type: str
    choices: [savepoint, last-state, stateless, blue-green]
    default: savepoint
  rescale_mode:
    description:
      - How a change of O(parallelism) alone is applied to the running job.
      - V(upgrade) replaces the job the way O(upgrade_mode) says.
      - V(in-place) asks Flink's adaptive scheduler to rescale the running job
        (C(PUT /jobs/:id/resource-requirements), Flink 1.18+). The job keeps its id and restarts from
        its latest checkpoint, so the records since that checkpoint are processed again; a checkpoint
        is taken just before to keep that window small. Needs C(jobmanager.scheduler) set to V(adaptive) in
        the B(cluster) configuration (Flink ignores it per job). Flink 2.x does not rescale within
        30 seconds (C(jobmanager.adaptive-scheduler.scaling-interval.min)) of the job's start.
      - When the cluster cannot (default scheduler, Flink before 1.18, not done within
        O(wait_timeout)), the job is upgraded as O(upgrade_mode) says instead, and RV(rescale_fallback)
        says why. The new parallelism is recorded on the cluster, so a re-run changes nothing.
      - The health gate (O(health_require_checkpoint), O(health_window)) applies to the rescaled job
        as to a new version; a job that fails it is rescaled back (unless O(rollback=false)) and the
        task fails saying so.
    type: str
    choices: [upgrade, in-place]
    default: upgrade
  savepoint_dir:
    description:
      - Target directory of the savepoint taken to stop the job. Defaults to the cluster's configured
        savepoint directory; if neither exists the task fails before anything stops.
      - The JobManager writes it, so it must be an absolute path or a URI (V(file:///flink/savepoints),
        V(s3://bucket/savepoints)); a relative one is refused.
    type: str
  savepoint_format:
    description:
      - V(canonical) is portable between state backends; V(native) is faster to take and restore for large RocksDB state.
    type: str
    choices: [canonical, native]
    default: canonical
  drain:
    description:
      - Emit the maximum watermark before stopping, flushing all event-time windows. Only for a
        final stop, not for an upgrade that should continue the stream.
    type: bool
    default: false
  savepoint_timeout:
    description:
      - Seconds to wait for the savepoint that stops the job. Large state can take many minutes.
      - On timeout nothing is cancelled; Flink may still finish the stop, and running the task
        again resumes from that savepoint.
    type: float
    default: 1800
  stop_mode:
    description:
      - With O(state=stopped), V(savepoint) stops the job with a savepoint, V(drain) does the same
        after draining, V(cancel) cancels it without saving state.
    type: str
    choices: [savepoint, drain, cancel]
    default: savepoint
  wait:
    description:
      - Wait until the new job is healthy the way Flink means it, that is job state RUNNING, every task
        RUNNING or FINISHED (since Flink 1.15 a job runs on after some tasks finish, for example a source
        subtask that got no split), and no restart since it started. Job state RUNNING alone can hide
        tasks still waiting for slots. A job that fails or restarts meanwhile fails the task with
        Flink's root cause.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the job to run, and for a cancelled job to end.
      - A job that restarts only because no TaskManager offers it slots yet (C(NoResourceAvailableException),
        for example a TaskManager lost and being replaced) is waited for within this time, not failed.
        Once the TaskManager is back, Flink's restart delay (exponential, up to a minute by default)
        passes before the job asks again, so allow for both.
    type: float
    default: 300
  health_window:
    description:
      - After the new job runs, seconds it must stay healthy (every task RUNNING or FINISHED, no restart)
        before the task succeeds. V(0) skips the check.
    type: float
    default: 0
  health_require_checkpoint:
    description:
      - Once the new job runs, trigger a checkpoint of it (C(POST /jobs/:id/checkpoints), Flink 1.17+,
        the job's configured checkpoint kind) and require it to complete within O(savepoint_timeout).
        This proves in seconds that the job can checkpoint, whatever its checkpoint interval.
      - A job with checkpointing off fails this gate with a message that says so (a triggered
        checkpoint would succeed, but the job never checkpoints on its own).
      - Works with or without O(health_window); needs O(wait=true).
    type: bool
    default: false
  rollback:
    description:
      - If the upgraded job fails to start or is unhealthy, start the previous version again from
        the savepoint just taken, then fail the task. Needs the previous job to have been started
        by this collection (its spec is recorded on the cluster).
    type: bool
    default: true
  allow_start_empty:
    description:
      - Start a job whose history is recorded on the cluster (its operation log) from empty state
        when Flink lists no run of it any more (a JobManager without high availability restarted).
      - Without it (and without O(savepoint_path)) such a start is refused, naming the last
        recorded savepoint, because state would be lost silently.
    type: bool
    default: false
  concurrent_deployment:
    description:
      - What to do when another run is deploying the same job name right now (another pipeline,
        a retry, an AWX schedule).
      - V(fail) fails at once, changing nothing, with a message naming the other run and since
        when. V(wait) waits until it ends (at most O(concurrent_wait_timeout) seconds), then plans
        again from what runs then and applies this run's spec.
      - Either way at most one job of the name is ever started from one predecessor, as Flink
        refuses a second submission of the successor's job id.
    type: str
    choices: [fail, wait]
    default: fail
  concurrent_wait_timeout:
    description:
      - Seconds O(concurrent_deployment=wait) waits for the other deployment.
    type: float
    default: 600
  replace_running:
    description:
      - With V(false), a job of the name that runs another spec than the one asked for is left as
        it is (RV(action=none), a warning names it). Only a job that does not run is started.
      - For automation that restores a job and must never replace a version someone deployed
        since it looked, such as the heal playbook C(flinkops.flink.heal). The check is made
        by the run that acts, so a deployment that ends between a look and the act is never undone.
    type: bool
    default: true
  deadline:
    description:
      - Seconds the whole run may wait, all its waits together (the stop's savepoint, the start,
        the health checkpoint and window, a rollback, another deployment). Each wait waits at most
        its own timeout or the time left, whichever is shorter. Not set, each wait has only its own timeout.
      - When the time is up the task fails with a message naming the step that was waiting and,
        when this run's stop took a savepoint, that savepoint. Nothing is cancelled or rolled back
        for it. A stop still in progress is left to Flink, a new job left as it is. Running the task again finishes
        the deployment (it resumes from the savepoint, or waits for and gates the new job), starting nothing twice.
      - Set it below the limit of whatever runs the playbook (an AWX job template's timeout, a
        Kubernetes Job's C(activeDeadlineSeconds)), so that the run ends with that message rather than being killed.
      - It bounds waiting. Each REST request keeps its own O(request_timeout) and O(request_retries).
    type: float
  version:
    description:
      - Deploy recorded version N of the job O(name), as M(flinkops.flink.flink_job_info) lists them in
        RV(flinkops.flink.flink_job_info#module:versions) (numbered 1, 2, 3... in the order first applied). Its spec
        comes from its record, and it is deployed like any other spec (O(upgrade_mode), the savepoint, the guard,
        the health gate, rollback, check mode and diff work as usual); a re-run is a no-op.
      - Cannot be combined with O(jar_id), O(jar_name), O(entry_class), O(parallelism), O(args), O(configuration)
        or O(secret_args), which the record fixes. Two exceptions. O(jar) supplies the JAR file when the JobManager
        no longer holds the recorded upload (a restart with an empty upload directory); its sha256 must match the
        recorded content hash. And a version deployed with secret values (recorded only as salted hashes) needs them
        again, in O(args) (and O(configuration)) with O(secret_args), as when it was deployed; only their secret
        values are used, checked against the recorded hashes.
      - Fails before anything changes for an unknown number, a version whose spec record was pruned (the records
        keep the specs of the newest 5 versions and of the runs Flink lists), a JAR that is neither on the cluster
        nor given, or a file of other content.
    type: int
notes:
  - Each spec this module submits is recorded in the cluster's JAR list as tiny entries named
    C(flinkops-spec-<fingerprint>-...jar) (the only place Flink's REST API can store and return it).
    They hold the JAR id, entry class, arguments, parallelism and configuration, and let a later run
    show the running spec in its diff and roll back to it. Anyone who can read the REST API can read them.
    After each successful change, the records of this job that no run Flink still lists are removed, except the
    specs of its newest 5 versions (see O(version)).
  - A job started by another tool has no recorded spec, so it always counts as a different spec; the
    first run upgrades it to a job this module manages.
  - Concurrency guard. The job that replaces job P gets a job id derived from the job name and P, so
    two runs replacing the same job can never both start one (Flink accepts a job id once). Before
    it stops anything, a run records its intent (spec, who, since when) in the JAR list as
    C(flinkops-intent-...jar) entries; the earlier of two runs proceeds, the other fails (or waits,
    see O(concurrent_deployment)). While it acts the run renews its claim every 2 seconds
    (C(flinkops-renew-...jar) entries), however long its stop or submit takes; a claim not renewed
    for 10 seconds (its run was killed) is taken over. After a submission a C(flinkops-run-...jar) entry records the spec
    the new job runs. Every change is appended to the job's operation log (C(flinkops-op-...jar)
    entries, the last 50 per job), returned by M(flinkops.flink.flink_job_info) as C(operations).
  - Progress. While it waits, the task prints a line every 15 to 60 seconds (after the first 5) at
    default verbosity, in C(ansible-playbook) and in the AWX job output. It names the module and the
    job, what it waits for and how long it has waited, for example
    C(waiting for the savepoint of job 9a8b... (20 s of 1800 s)). To do so the action plugin runs the
    module the way C(async) does and polls it every few seconds. A task that sets C(async) itself, or
    runs in check mode, runs the module directly, without progress lines.
  - A re-run with an unchanged spec succeeds only if the job is healthy (running, no restart in the
    last 10 minutes); otherwise it fails with the root cause, or with O(health_window) set waits for
    the job and gates it like a fresh deployment. In check mode RV(healthy) says so.
seealso:
  - module: flinkops.flink.flink_jar
  - module: flinkops.flink.flink_job_info
  - module: flinkops.flink.flink_savepoint
"""

EXAMPLES = r"""
- name: Deploy on a high-availability cluster, the records kept in the savepoint bucket
  flinkops.flink.flink_job:
    url: http://flink-rest:8081  # a Service in front of the leader and the standby JobManager
    name: orders
    jar: target/orders-job-1.5.0.jar
    # credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, an AWS profile or the pod's role
    state_store: "s3://flink-savepoints/flinkops?endpoint=https://minio.example.com&region=eu-west-1"

- name: Upgrade without a pause - the new version takes over from a savepoint of the running one
  flinkops.flink.flink_job:
    url: http://flink-jobmanager:8081
    name: orders
    jar: target/orders-job-1.5.0.jar
    # green writes with its own transactional id prefix during the overlap
    args: [--transactional-id-prefix, orders-1.5.0]
    upgrade_mode: blue-green
    health_window: 30

- name: Scale the running job to 4 without a savepoint (adaptive-scheduler cluster)
  flinkops.flink.flink_job:
    url: http://flink-jobmanager:8081
    name: orders
    jar: target/orders-job-1.5.0.jar
    args: [--transactional-id-prefix, orders-1.5.0]
    parallelism: 4
    rescale_mode: in-place

- name: Run version 1.4.0 of the orders job, state carried over from the running version
  flinkops.flink.flink_job:
    url: http://flink-jobmanager:8081
    name: orders
    jar: target/orders-job-1.4.0.jar
    entry_class: com.example.orders.OrdersJob
    args: [--source, kafka, --topic, "orders v2"]
    parallelism: 4
    configuration:
      execution.checkpointing.interval: 30s
    health_window: 60
    health_require_checkpoint: true
  register: deploy

- name: Upgrade, on purpose dropping the state of an operator the new version removed
  flinkops.flink.flink_job:
    url: http://flink-jobmanager:8081
    name: orders
    jar: target/orders-job-2.0.0.jar
    allow_non_restored_state: true

- name: Upgrade across a changed operator chain (uids kept), the pre-check only warns
  flinkops.flink.flink_job:
    url: http://flink-jobmanager:8081
    name: orders
    jar: target/orders-job-2.1.0.jar
    state_check: warn

- name: Show what a deployment would do, without doing it
  flinkops.flink.flink_job:
    url: http://flink-jobmanager:8081
    name: orders
    jar: target/orders-job-1.5.0.jar
    args: [--source, kafka]
  check_mode: true
  diff: true

- name: Deploy from CI, the whole run (savepoint, start, health window) bounded to 15 minutes
  flinkops.flink.flink_job:
    url: http://flink-jobmanager:8081
    name: orders
    jar: target/orders-job-1.5.0.jar
    health_window: 60
    deadline: 900

- name: Bring a failed job back, but leave a version someone deployed since alone
  flinkops.flink.flink_job:
    url: http://flink-jobmanager:8081
    name: orders
    jar: target/orders-job-1.4.0.jar
    replace_running: false

- name: Return to version 1 of the orders job, as flink_job_info lists it, with a savepoint as for any upgrade
  flinkops.flink.flink_job:
    url: http://flink-jobmanager:8081
    name: orders
    version: 1

- name: Return to version 1 after the JobManager lost its upload, supplying that JAR again
  flinkops.flink.flink_job:
    url: http://flink-jobmanager:8081
    name: orders
    version: 1
    jar: artifacts/orders-job-1.4.0.jar

- name: Stop the job with a final savepoint
  flinkops.flink.flink_job:
    url: http://flink-jobmanager:8081
    name: orders
    state: stopped
  register: stopped

- name: Start it again later from that savepoint
  flinkops.flink.flink_job:
    url: http://flink-jobmanager:8081
    name: orders
    jar: target/orders-job-1.4.0.jar
    savepoint_path: "{{ stopped.savepoint }}"
"""

RETURN = r"""
job_id:
  description: Id of the job that runs now (V(null) in check mode when a job would be started).
  returned: always
  type: str
  sample: 3f9c1e0a7b2d4c55e1f2a3b4c5d6e7f8
previous_job_id:
  description: Id of the job that was stopped or replaced, or whose savepoint was resumed.
  returned: always
  type: str
  sample: 9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d
action:
  description: What happened.
  returned: always
  type: str
  choices: [none, started, resumed, upgraded, rescaled, stopped, cancelled]
  sample: upgraded
savepoint:
  description:
    - Location of the savepoint taken to stop the old job.
    - With O(upgrade_mode=blue-green), the final savepoint of blue, taken when green was promoted;
      green started from RV(restored_from), taken while blue ran on.
  returned: always
  type: str
  sample: file:///var/flink/savepoints/savepoint-9a8b7c-5e6f7a8b9c0d
restored_from:
  description:
    - The savepoint or checkpoint the job that runs now started from, V(null) for empty state.
    - When nothing changed, what Flink reports the running job was restored from.
    - V(null) in check mode when a job would be started.
  returned: always
  type: str
  sample: file:///var/flink/savepoints/savepoint-9a8b7c-5e6f7a8b9c0d
rolled_back:
  description: Whether the new version failed and the previous one was started again.
  returned: always
  type: bool
  sample: false
healthy:
  description:
    - Whether the job that already runs the requested spec is healthy (running, every task running,
      no restart in the last 10 minutes). Set when the spec runs already; the C(flinkops.flink.job_deploy) role's
      check-mode fast path ends only when it is V(true).
  returned: when the requested spec runs already
  type: bool
  sample: true
winner_job_id:
  description:
    - The job another deployment of the same job started where this run started nothing (they met at the
      job-id fence). RV(action) is then V(none) and RV(job_id) is null, as they tell what this run did.
  returned: when another run won the submission
  type: str
  sample: 7d1f0e2c3b4a59687d1f0e2c3b4a5968
job:
  description: The job as C(/jobs/overview) reports it once it runs.
  returned: when a job runs
  type: dict
  sample:
    jid: 3f9c1e0a7b2d4c55e1f2a3b4c5d6e7f8
    name: orders
    state: RUNNING
    tasks: {total: 3, running: 3}
state_check:
  description:
    - What the state-compatibility pre-check found (see O(state_check)); also returned when it refused.
    - RV(state_check.outcome) is V(passed), V(refused) (vertices missing or parallelism over the max) or
      V(not_run) (no completed checkpoint yet, or the new JAR could not be planned in check mode).
  returned: when a running job is upgraded and O(state_check) is not V(off)
  type: dict
  contains:
    outcome:
      description: V(passed), V(refused) or V(not_run).
      type: str
    checkpoint_id:
      description: The checkpoint (or savepoint) of the running job that was compared.
      type: int
    stateful_vertices:
      description: The vertices that hold state in that checkpoint (id, name, state_size in bytes).
      type: list
      elements: dict
    vanished:
      description: Stateful vertices missing from the new program (id, name, state_size).
      type: list
      elements: dict
    dropped_state_bytes:
      description: Bytes of state the restore would drop.
      type: int
    parallelism_over_max:
      description: Stateful vertices whose new parallelism exceeds the old max parallelism.
      type: list
      elements: dict
    message:
      description: The finding in one sentence.
      type: str
  sample:
    outcome: refused
    checkpoint_id: 42
    vanished: [{id: d0262a1a29ccd28ba228c97b01162aa3, name: counter, state_size: 4282}]
    dropped_state_bytes: 4282
health:
  description: What the health gate saw.
  returned: when O(health_window) or O(health_require_checkpoint) is set and the new job ran
  type: dict
  contains:
    window:
      description: The health window in seconds.
      type: float
    checkpoint:
      description: The triggered checkpoint (checkpoint_id, trigger_id, interval_ms), V(null) without
        O(health_require_checkpoint).
      type: dict
  sample:
    window: 30
    checkpoint: {checkpoint_id: 7, trigger_id: 5b0e2f0c9d8a4e6f8a1b2c3d4e5f6a7b, interval_ms: 600000}
strategy:
  description: The strategy that replaced the job, when it was not a stop-then-start.
  returned: when O(upgrade_mode=blue-green) or an in-place rescale changed the job
  type: str
  choices: [blue-green, in-place rescale]
  sample: blue-green
overlap_seconds:
  description: How long both versions ran (and processed the stream) during a blue/green upgrade.
  returned: when a blue/green upgrade promoted green
  type: float
  sample: 4.2
catch_up:
  description:
    - Whether green had caught up with blue's input when blue was stopped (O(upgrade_mode=blue-green)).
    - Where blue's sources report FLIP-33's C(pendingRecords) metric (Kafka, Pulsar, Kinesis and other
      sources that set it), blue is stopped only once green reports at most 100 pending records more than
      blue (within O(wait_timeout), else green is cancelled and the task fails). RV(catch_up.measured) is
      V(false) where the sources do not report it.
  returned: when a blue/green upgrade promoted green
  type: dict
  sample: {measured: true, pending_records: 12, running_job_pending_records: 15}
  contains:
    measured:
      description: Whether blue's sources report C(pendingRecords), so that green's catch-up was waited for.
      type: bool
      returned: always
    reason:
      description:
        - Why the catch-up was not measured, when it was not. Either blue's sources report no
          C(pendingRecords) (in every listing for 12 seconds, as sources may register it late), or
          Flink listed no metric of blue within 30 seconds (its JobManager
          refreshes a metrics cache every C(metrics.fetcher.update-interval); a TaskManager busy
          enough to starve its metrics thread answers late).
      type: str
      returned: when not RV(catch_up.measured)
    pending_records:
      description: The records green had not read yet when blue was stopped.
      type: int
      returned: when RV(catch_up.measured)
    running_job_pending_records:
      description: The records blue had not read yet at the same moment.
      type: int
      returned: when RV(catch_up.measured)
rescaled:
  description: The parallelism the job was rescaled to in place, and the checkpoint taken just before.
  returned: when the job was rescaled in place
  type: dict
  sample: {parallelism: 4, checkpoint_before: 57}
rescale_fallback:
  description: Why O(rescale_mode=in-place) was not possible, so the job was upgraded instead.
  returned: when an in-place rescale fell back to an upgrade
  type: str
  sample: "the cluster does not run the adaptive scheduler (jobmanager.scheduler: adaptive in its configuration)"
actions:
  description: What the module did, or would do in check mode.
  returned: always
  type: list
  elements: str
  sample:
    - stop job 9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d with a canonical savepoint to file:///var/flink/savepoints
    - start job orders (3f9c1e0a7b2d4c55) from savepoint file:///var/flink/savepoints/savepoint-9a8b7c-5e6f7a8b9c0d
"""

import time

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._engine import Engine
from ansible_collections.flinkops.flink.plugins.module_utils._deployment_lease import Replan
from ansible_collections.flinkops.flink.plugins.module_utils._job_options import (
    ARGUMENT_SPEC as JOB_OPTIONS,
    MUTUALLY_EXCLUSIVE,
    deploy_request,
    request_problems,
)
from ansible_collections.flinkops.flink.plugins.module_utils._migrate import legacy_records
from ansible_collections.flinkops.flink.plugins.module_utils._module import FlinkModule
from ansible_collections.flinkops.flink.plugins.module_utils._oplog import read_operations
from ansible_collections.flinkops.flink.plugins.module_utils._poll import Clock
from ansible_collections.flinkops.flink.plugins.module_utils._progress import progress_writer
from ansible_collections.flinkops.flink.plugins.module_utils._rest import list_jars
from ansible_collections.flinkops.flink.plugins.module_utils._versions import list_versions, version_request

# The job's options, and the run's own: its deadline bounds this run, not the job; a version
# number names a recorded spec, turned into the job's options before the engine sees them.
ARGUMENT_SPEC = dict(JOB_OPTIONS, deadline=dict(type="float"), version=dict(type="int"))
REQUIRED_IF = [("state", "running", ("jar", "jar_id", "version"), True)]
DEADLINE_RANGE = (1, 7 * 86400)


def given_options(params):
    """The job options the user set (an empty list or dict is the default, so not set)."""
    return set(option for option in JOB_OPTIONS
               if params.get(option) not in (None, [], {}) and option not in ("name", "state")
               and params.get(option) != JOB_OPTIONS[option].get("default"))


def recorded_version(module, request):
    """The request for recorded version ``version`` of the job (``_versions``), from the
    records alone; raises FlinkError, before any change, when it cannot be deployed."""
    jars = list_jars(module.client)
    entries = module.state.read_job(request.name, lambda: jars, legacy_records)
    versions = list_versions(read_operations(entries, request.name), entries, jars)
    return version_request(request, module.params["version"], versions, given_options(module.params))


def apply(module):
    request = deploy_request(module.params)
    if module.params["version"] is not None:
        request = recorded_version(module, request)
    # Every wait of this run is bounded by the deadline and reports how long it waits.
    module.client.clock = Clock(module.params["deadline"], progress_writer(
        "flink_job %s" % request.name, module.redactor.text))
    # Waiting for other deployments, re-plans included, is bounded as a whole.
    deadline = time.monotonic() + request.concurrent_wait_timeout
    while True:
        engine = Engine(module.client, request, module.changes, state=module.state)
        try:
            result = engine.run()
        except Replan as exc:
            if time.monotonic() < deadline:
                continue  # another deployment ended while this run waited: plan again
            _warn(module, engine)
            module.fail(FlinkError("%s; still in progress after waiting %ss (concurrent_wait_"
                                   "timeout)" % (exc.msg, request.concurrent_wait_timeout)),
                        **engine.result.to_dict())
        except FlinkError as exc:
            _warn(module, engine)
            # What already happened (a savepoint taken, a rollback) matters most on failure.
            module.fail(exc, **engine.result.to_dict())
        break
    _warn(module, engine)
    module.exit(diff=result.diff, **dict(result.to_dict(), **_version_of(module)))


def _version_of(module):
    return {"version": module.params["version"]} if module.params["version"] is not None else {}


def _warn(module, engine):
    for warning in engine.warnings:
        module.warn(warning)


def main():
    module = FlinkModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=MUTUALLY_EXCLUSIVE,
        required_if=REQUIRED_IF,
    )
    problems = request_problems(deploy_request(module.params))
    deadline = module.params["deadline"]
    if deadline is not None and not DEADLINE_RANGE[0] <= deadline <= DEADLINE_RANGE[1]:
        problems.append("deadline must be between %s and %s seconds, got %s" % (
            DEADLINE_RANGE + (deadline,)))
    version = module.params["version"]
    if version is not None and (version < 1 or module.params["state"] != "running"):
        problems.append("version must be a version number (1 or more) with state=running, got %s%s" % (
            version, "" if module.params["state"] == "running" else " with state=%s" % module.params["state"]))
    if problems:
        module.fail(problems[0])
    module.run(apply)


if __name__ == "__main__":
    main()
