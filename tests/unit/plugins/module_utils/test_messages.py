# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every failure message of flink_job, flink_savepoint and the roles, against the troubleshooting
page (docs/docsite/rst/troubleshooting.rst).

MESSAGES maps each message template the code composes (found in the source by message_sites,
never listed by hand) to the page's entry that explains it (the ``literal`` that starts the entry)
and the situation the message claims (what runs, what changed). ROLE_MESSAGES maps the roles'
fail/assert tasks to their entries. A message added without a row fails
test_every_message_has_an_entry (or test_every_role_message_has_an_entry); a row whose message is
gone fails it too. The test_* situations below drive messages on the scripted Flink (or their pure
functions) and check the message produced matches its page entry, values filled in, and that the
requests sent agree with the claimed situation. Role messages are driven on real Flink in
tests/integration/test_drain_restore.py (wrong input, check mode).
"""

from __future__ import annotations

import os
import re
import textwrap

import pytest

from ansible_collections.flinkops.flink.plugins.module_utils import _job_options, _jobstate, _spec, _store
from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkClient, FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._request import DeployRequest
from ansible_collections.flinkops.flink.plugins.modules import flink_savepoint
from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils import message_sites
from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils.flinkfake import job, overview
# The engine's scripted situations (their fixtures are used by the tests below).
from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils.test_engine import (  # noqa: F401 pylint: disable=unused-import
    OLD_SPEC,
    SP,
    engine,
    expect_failing_start,
    expect_prepared,
    expect_run,
    expect_stop,
    fixed_job_ids,
    jar,
    request,
    sha,
    spec_of,
    upgrade_setup,
    uploaded,
)
from ansible_collections.flinkops.flink.tests.unit.plugins.module_utils.flinkfake import savepoint_done

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 4))
PAGE = os.path.join(ROOT, "docs", "docsite", "rst", "troubleshooting.rst")

HTTP_401 = "authentication failed (check url_username/url_password or bearer_token): ... answered HTTP 401"
PROXY_502 = "the proxy URL answered instead of Flink (Flink was not reached): ... answered HTTP 502"
TLS = "cannot reach Flink (TLS error: the server certificate is not trusted (set ca_path ...)): ..."
HA = ("the cluster runs with high availability (<key>: <value>): each JobManager keeps its own JAR "
      "upload directory, where flinkops.flink would keep job <name>'s records, and a restarted "
      "JobManager starts with an empty one. Set state_store to a durable store ...")
NO_WAY_BACK = ("job <id> (<name>) could not be started again if the new version failed: <why>. Deploy "
               "with rollback=false to upgrade without that way back; nothing was changed")
NOT_ROLLED_BACK = ("the new version failed and the previous job <id> is stopped (its state is in <path>); "
                   "not rolled back: <reason>. <message>")
IN_PROGRESS = ("another deployment of job <name> is in progress: <actor> since <time> (<what it does>); "
               "this run changed nothing. its claim lasts until that run ends, at the latest until <time> "
               "... If that run is known dead, delete the entries <names> from <store>")
RANGE = "<savepoint_timeout|wait_timeout|health_window|deadline> must be between <low> and <high> seconds, got <n>"
SAVEPOINT_OPTIONS = "drain needs stop=true: ..."

# What a message claims about the cluster when it is given: the situation a table row says its
# message describes, checked where a situation drives it (assert_situation).
BEFORE_ANY_REQUEST = "checked before any request: nothing was sent, nothing changed"
UNCHANGED = "refused or failed before any change: every job runs as it did, nothing was started"
REQUEST_FAILED = "one request failed; the step it served did not happen (the outcome message says what runs)"
PART_OF_AN_OUTCOME = ("a failure of the new job (start, gate, wait), given inside an outcome message that "
                      "says what runs: rolled back, not rolled back, or blue/green aborted")
ROLLED_BACK = "the new version failed; the previous version runs again from the savepoint the message names"
NOTHING_RUNS = "no version of the job runs; the message names where its state is"
OUTCOME_UNKNOWN = "a change was requested and its outcome is unknown; the message says how a re-run settles it"
SOME_FAILED = "some of several savepoints failed; the others were taken (result savepoints)"
OTHER_RUN_ACTS = "another run deploys the job; this run changed nothing or stopped watching"
STORE_FAILED = "the state store failed; before the first change nothing changed, later the outcome message says what runs"
RESCALED_JOB_RUNS = "the job rescaled in place failed its gate; the message says at which parallelism it runs"
DEADLINE_RAN_OUT = ("the run's deadline ran out in a wait: nothing was cancelled or rolled back; the message "
                    "says what this run stopped and started, and a re-run finishes from there")
HANDOVER_PENDING = ("green passed its gate and runs, blue could not be stopped and runs too; the next run "
                    "of the job stops blue with a savepoint first")
DEADLINE = "the deadline of <n> s ran out while waiting for <step> (waited <m> s). ..."
CRASH_LOOP = "job <id> is crash-looping (<state>), so it cannot take a savepoint, and "

MESSAGES = {
    'url must start with http:// or https://, got %r':
        ("url must start with http:// or https://, got '<url>'", BEFORE_ANY_REQUEST),
    'request_timeout must be a number of seconds, got %s':
        ('request_timeout must be a number of seconds, got <n>', BEFORE_ANY_REQUEST),
    'request_timeout must be between 0 and 3600 seconds, got %s':
        ('request_timeout must be between 0 and 3600 seconds, got <n>', BEFORE_ANY_REQUEST),
    'request_retries must be between 0 and 10, got %s':
        ('request_retries must be between 0 and 10, got <n>', BEFORE_ANY_REQUEST),
    'name must not be empty: it is the job name Flink reports':
        ('name must not be empty: it is the job name Flink reports', BEFORE_ANY_REQUEST),
    'parallelism must be 1 or more, got %d':
        ('parallelism must be 1 or more, got <n>', BEFORE_ANY_REQUEST),
    '%s must be between %s and %s seconds, got %s':
        (RANGE, BEFORE_ANY_REQUEST),
    'wait_timeout must be between 1 and 86400 seconds, got %s':
        (RANGE, BEFORE_ANY_REQUEST),
    'secret_args %s match no argument in args (a flag args holds, such as --db-password, '
    'or a position from 0 to %d): a typo would leave the secret in clear; nothing was '
    'changed':
        ('secret_args <flags> match no argument in args (...): a typo would leave the secret in clear ...', BEFORE_ANY_REQUEST),
    'health_window needs wait=true':
        ('health_window needs wait=true', BEFORE_ANY_REQUEST),
    'health_require_checkpoint needs wait=true':
        ('health_require_checkpoint needs wait=true', BEFORE_ANY_REQUEST),
    "%s %r is relative: Flink would resolve it against the JobManager's working directory; "
    'give an absolute path or a URI such as file:///flink/savepoints or '
    's3://bucket/savepoints':
        ("<option> '<path>' is relative: Flink would resolve it against the JobManager's working directory ...", BEFORE_ANY_REQUEST),
    '%s needs Flink %s or newer; this cluster runs Flink %s':
        ('<option> needs Flink <version> or newer; this cluster runs Flink <version>', UNCHANGED),
    'configuration key %s has no value (null): give it a value, or leave the key out to '
    "use the cluster's setting":
        ('configuration key <key> has no value (null) ...', BEFORE_ANY_REQUEST),
    "configuration key %s: a list holds only plain values (Flink's list form is item;item;...)":
        ('configuration key <key>: a list holds only plain values ...', BEFORE_ANY_REQUEST),
    'configuration key %s is given twice (once nested, once dotted)':
        ('configuration key <key> is given twice (once nested, once dotted)', BEFORE_ANY_REQUEST),
    'job_ids is empty: name at least one job':
        ('job_ids is empty: name at least one job', BEFORE_ANY_REQUEST),
    'drain needs stop=true: only a stop with savepoint drains the job (emits the final '
    'watermark); a savepoint of a job that keeps running never does':
        (SAVEPOINT_OPTIONS, BEFORE_ANY_REQUEST),
    'max_age must be a number of seconds more than 0, got %s':
        ('max_age must be a number of seconds more than 0, got <n>', BEFORE_ANY_REQUEST),
    "keep needs state=absent: it disposes of the job's older savepoints":
        ('keep needs state=absent: ...', BEFORE_ANY_REQUEST),
    'keep must be 1 or more, got %d: the newest savepoint is what a stopped job resumes from':
        ('keep must be 1 or more, got <n>: ...', BEFORE_ANY_REQUEST),
    'bearer_token is %d characters long: not a token (check the variable that sets it)':
        ('bearer_token is <n> characters long: not a token ...', BEFORE_ANY_REQUEST),
    '%s: the value of %s is %d characters long: too short for a credential (check the '
    'variable that sets it)':
        ('<option>: the value of <name> is <n> characters long: too short for a credential ...', BEFORE_ANY_REQUEST),
    '%s must be the path of a PEM file; the value given is PEM content itself (not shown)':
        ('<option> must be the path of a PEM file; the value given is PEM content itself (not shown)', BEFORE_ANY_REQUEST),
    '%s: directory %s is not readable':
        ('<option>: directory <path> is not readable', BEFORE_ANY_REQUEST),
    '%s: no readable file at %s':
        ('<ca_path|client_cert|client_key>: no readable file at <path>', BEFORE_ANY_REQUEST),
    "client_key: %s is not a PEM private key (no '-----BEGIN ... PRIVATE KEY-----' line)":
        ('client_key: <path> is not a PEM private key ...', BEFORE_ANY_REQUEST),
    'client_key: %s is encrypted; the key must be an unencrypted PEM file':
        ('client_key: <path> is encrypted; the key must be an unencrypted PEM file', BEFORE_ANY_REQUEST),
    "%s: %s is not a PEM certificate file (no '%s' line)":
        ('<option>: <path> is not a PEM certificate file ...', BEFORE_ANY_REQUEST),
    "client_cert: %s holds no private key; set client_key to the key's PEM file":
        ("client_cert: <path> holds no private key; set client_key to the key's PEM file", BEFORE_ANY_REQUEST),
    '%s: the value of %s has a character that HTTP headers cannot carry (position %d; only '
    'Latin-1 is allowed)':
        ('<option>: the value of <header> has a character that HTTP headers cannot carry ...', BEFORE_ANY_REQUEST),
    '%s: the value of %s spans several lines':
        ('<option>: the value of <header> spans several lines', BEFORE_ANY_REQUEST),
    'cannot connect':
        ('cannot reach Flink (cannot connect): <METHOD> <url>: <detail>', REQUEST_FAILED),
    'connection timed out':
        ('cannot reach Flink (connection timed out): ...', REQUEST_FAILED),
    'no answer before the timeout':
        ('cannot reach Flink (no answer before the timeout): ...', REQUEST_FAILED),
    'connection closed before an answer':
        ('cannot reach Flink (connection closed before an answer): ...', REQUEST_FAILED),
    'the proxy %s refused or failed the connection':
        ('cannot reach Flink (the proxy <proxy> refused or failed the connection): ...', REQUEST_FAILED),
    'TLS error: %s':
        (TLS, REQUEST_FAILED),
    'TLS error: the server certificate is not trusted (set ca_path to the CA that signed it)':
        (TLS, REQUEST_FAILED),
    'TLS handshake failed: the server does not speak TLS on this port; use an http:// URL '
    'or the TLS port':
        (TLS, REQUEST_FAILED),
    'TLS error: ca_path, client_cert or client_key cannot be loaded':
        ('cannot reach Flink (TLS error: ca_path, client_cert or client_key cannot be loaded): ...', REQUEST_FAILED),
    'TLS error (the server refused the handshake: a client certificate missing or not trusted?)':
        (TLS, REQUEST_FAILED),
    'invalid request (%s)':
        ('cannot reach Flink (request failed (NAME)): ...', REQUEST_FAILED),
    'request failed (%s)':
        ('cannot reach Flink (request failed (NAME)): ...', REQUEST_FAILED),
    'authentication failed (check url_username/url_password or bearer_token)':
        (HTTP_401, REQUEST_FAILED),
    'access denied by the REST endpoint':
        ('access denied by the REST endpoint: ... answered HTTP 403', REQUEST_FAILED),
    'not found':
        ('not found: ... answered HTTP 404', REQUEST_FAILED),
    'the proxy %s answered instead of Flink (Flink was not reached)':
        (PROXY_502, REQUEST_FAILED),
    'a proxy or gateway in front of Flink answered (Flink was not reached)':
        (PROXY_502, REQUEST_FAILED),
    'the proxy %s requires authentication':
        ('the proxy <proxy> requires authentication: ... answered HTTP 407', REQUEST_FAILED),
    'Flink rejected the request':
        ('Flink rejected the request: <METHOD> <url> answered HTTP <status>: <cause>', REQUEST_FAILED),
    'unexpected answer from Flink (%s: %s; %s)':
        ('unexpected answer from Flink (...; the last answer: GET URL, HTTP 200)', REQUEST_FAILED),
    '%s (after a first attempt %s: %s)':
        ('... (after a first attempt was lost: <cause>)', REQUEST_FAILED),
    'timed out after %ss waiting for %s':
        ('timed out after <n>s waiting for <what>', PART_OF_AN_OUTCOME),
    '%d jobs match name %r (%s): %s; refusing to guess which one to manage':
        ("<n> jobs match name '<name>' (<exact|prefix>): <id> (<state>), ...; refusing to guess which one to manage", UNCHANGED),
    '%d active jobs are named %r (%s): name the one with job_id':
        ("<n> active jobs are named '<name>' (<ids>): name the one with job_id", UNCHANGED),
    'no running job named %r':
        ("no running job named '<name>'", UNCHANGED),
    'no job with id %s on the cluster':
        ('no job with id <id> on the cluster', UNCHANGED),
    'job %s (%s) is %s; a savepoint needs a RUNNING job':
        ('job <id> (<name>) is <state>; a savepoint needs a RUNNING job', UNCHANGED),
    '%d of %d savepoints failed: %s':
        ('<n> of <m> savepoints failed: job <id>: <message>; ...', SOME_FAILED),
    'no uploaded JAR with id %s on the cluster':
        ('no uploaded JAR with id <jar_id> on the cluster', UNCHANGED),
    'JAR file %s does not exist (or is not a file)':
        ('JAR file <path> does not exist (or is not a file)', BEFORE_ANY_REQUEST),
    'cannot read JAR file %s: %s':
        ('cannot read JAR file <path>: <error>', BEFORE_ANY_REQUEST),
    '%s is not a JAR file (a JAR is a ZIP archive; this file does not start with a ZIP header)':
        ('<path> is not a JAR file (a JAR is a ZIP archive; this file does not start with a ZIP header)', BEFORE_ANY_REQUEST),
    'no savepoint directory: set savepoint_dir, or configure '
    'execution.checkpointing.savepoint-dir (state.savepoints.dir on 1.x) on the cluster; '
    'job %s was left running':
        ('no savepoint directory: set savepoint_dir, or configure '
         'execution.checkpointing.savepoint-dir (state.savepoints.dir on 1.x) on the cluster; job '
         '<id> was left running',
         UNCHANGED),
    '%s failed%s':
        ('<operation> failed...: GET <url> answered HTTP 200: <cause>', UNCHANGED),
    '%s did not complete within %ss%s':
        ('the savepoint of job <id> did not complete within <n>s (trigger <trigger id>); the job was left as it is', OUTCOME_UNKNOWN),
    'upgrade_mode=last-state needs a completed checkpoint of job %s, and it has none; job '
    'left running':
        ('upgrade_mode=last-state needs a completed checkpoint of job <id>, and it has none; job left running', UNCHANGED),
    'upgrade_mode=last-state needs checkpoints retained on cancellation '
    '(execution.checkpointing.externalized-checkpoint-retention: RETAIN_ON_CANCELLATION); '
    'job %s left running':
        ('upgrade_mode=last-state needs checkpoints retained on cancellation '
         '(execution.checkpointing.externalized-checkpoint-retention: RETAIN_ON_CANCELLATION); job '
         '<id> left running',
         UNCHANGED),
    'job %s (%s) went %s instead of running':
        ('job <id> (<name>) went <state> instead of running: <cause>', PART_OF_AN_OUTCOME),
    'job %s (%s) %s':
        ('job <id> (<name>) <state and tasks>', PART_OF_AN_OUTCOME),
    'job %s is not healthy: %s':
        ('job <id> is not healthy: state <state>, tasks <counts>: <cause>', PART_OF_AN_OUTCOME),
    'job %s restarted during the health window':
        ('job <id> restarted during the health window: <cause>', PART_OF_AN_OUTCOME),
    'job %s completed no checkpoint within the health window of %ss':
        ('job <id> completed no checkpoint within the health window of <n>s', PART_OF_AN_OUTCOME),
    'the new version (job %s) failed and was rolled back: the previous version runs again '
    'as job %s, restored from %s. The failure: %s':
        ('the new version (job <id>) failed and was rolled back: the previous version runs again as '
         'job <id>, restored from <savepoint>. The failure: <message>',
         ROLLED_BACK),
    'the new version (job %s) failed, and starting the previous version again from %s '
    "failed too, so %s; %s. Fix the cause and run the task again. The new version's "
    "failure: %s. The rollback's failure: %s":
        ('the new version (job <id>) failed, and starting the previous version again from <path> failed too, so nothing runs now; ...', NOTHING_RUNS),
    'job %s was cancelled but Flink reports no retained checkpoint; nothing was started. '
    'Its checkpoint directory may still hold the state: start the job with savepoint_path '
    'set to it':
        ('job <id> was cancelled but Flink reports no retained checkpoint; nothing was started. ...', NOTHING_RUNS),
    '%s. The stop of job %s with a savepoint was requested (trigger %s) and its outcome is '
    'unknown: Flink may still stop the job. Run the task again: if the job stopped, it '
    'resumes from that savepoint':
        ('... The stop of job <id> with a savepoint was requested (trigger <id>) and its outcome is unknown ...', OUTCOME_UNKNOWN),
    '%s. This run had stopped job %s with the savepoint %s, and nothing was rolled back.%s '
    'Run the task again: when no job of the name runs, it goes on from that savepoint; '
    'when one does, it names it%s':
        ('... This run had stopped job <id> with the savepoint <path>, and nothing was rolled back ...', OUTCOME_UNKNOWN),
    'the new version failed and the previous job %s is stopped (%s); not rolled back: %s. %s':
        (NOT_ROLLED_BACK, NOTHING_RUNS),
    'rollback is off':
        (NOT_ROLLED_BACK, NOTHING_RUNS),
    '; the new job %s was cancelled':
        (NOT_ROLLED_BACK, NOTHING_RUNS),
    'job %s (%s) could not be started again if the new version failed: %s. Deploy with '
    'rollback=false to upgrade without that way back; nothing was changed':
        (NO_WAY_BACK, UNCHANGED),
    'its JAR (upload %s) is not on the JobManager any more':
        (NO_WAY_BACK, UNCHANGED),
    'the recorded spec holds secret values that differ from the ones given now (%s): they '
    'are stored only as hashes, so that spec cannot be started again':
        ('the recorded spec holds secret values that differ from the ones given now (<args>): ...', UNCHANGED),
    'the cluster runs with high availability (%s): each JobManager keeps its own JAR '
    "upload directory, where flinkops.flink would keep job %s's records, and a restarted "
    'JobManager starts with an empty one':
        (HA, BEFORE_ANY_REQUEST),
    '%s. Set state_store to a durable store (s3://bucket/prefix, '
    'zookeeper://host:port/chroot or postgresql://user@host:port/database), or to '
    "'jobmanager' if that upload directory is durable and shared by every JobManager. "
    'Nothing was changed: every job runs on as it was':
        (HA, UNCHANGED),
    'another deployment of job %s is in progress: %s (%s); this run changed nothing':
        (IN_PROGRESS, OTHER_RUN_ACTS),
    'another deployment of job %s is in progress: %s (it replaces job %s); nothing was changed':
        ('another deployment of job <name> is in progress: <actor> (it replaces job <id>); nothing was changed', OTHER_RUN_ACTS),
    '%s; still in progress after waiting %ss (concurrent_wait_timeout)':
        ('... still in progress after waiting <n>s (concurrent_wait_timeout)', OTHER_RUN_ACTS),
    'job %s: %d attempts to replace job %s ended without success; nothing was changed. '
    'Start the job under a new name, or from savepoint_path after cancelling job %s':
        ('job <name>: <n> attempts to replace job <id> ended without success; nothing was changed ...', OTHER_RUN_ACTS),
    'the intent record of %s was written but is not listed by GET /jars; nothing was changed':
        ('the intent record of job <name> was written but is not listed by GET /jars; nothing was changed', UNCHANGED),
    'job %s was superseded by another deployment (%s)':
        ('job <id> was superseded by another deployment (<actor> since <time>)', OTHER_RUN_ACTS),
    'job %s has history on this cluster (last: %s, job %s) but Flink lists no run of it (a '
    'JobManager without high availability lost its job list?); refusing to start it from '
    'empty state. %s, or set allow_start_empty=true to start without state':
        ('job <name> has history on this cluster (last: <action>, job <id>) but Flink lists no run of it ...; refusing to start it from empty state',
         UNCHANGED),
    'the program started a job named %r, not %r (name_match=%s): job %s was cancelled. Set '
    'name to the name the program passes to execute(), or change the program':
        ("the program started a job named '<name>', not '<name>' (name_match=<mode>): job <id> was cancelled", NOTHING_RUNS),
    'job %s runs the requested spec but is not healthy (%s; %d restart(s) in the last %d '
    'minutes): %s. Fix the cause and deploy again, or set health_window to wait for it to '
    'recover':
        ('job <id> runs the requested spec but is not healthy (<state>; <n> restart(s) in the last 10 minutes): <cause>', UNCHANGED),
    'job %s runs the requested spec, but %s and it failed the health gate: %s':
        ('job <id> runs the requested spec, but <why> and it failed the health gate: <failure>', UNCHANGED),
    'the checkpoint triggered to prove job %s healthy failed (trigger %s)':
        ('the checkpoint triggered to prove job <id> healthy failed (trigger <id>): <cause>', PART_OF_AN_OUTCOME),
    'job %s has checkpointing off (no periodic checkpoint interval), so '
    'health_require_checkpoint cannot be met: it would never checkpoint on its own and '
    'could not recover its state. Enable checkpointing (execution.checkpointing.interval) '
    'or set health_require_checkpoint: false':
        ('job <id> has checkpointing off (no periodic checkpoint interval), so health_require_checkpoint cannot be met ...', PART_OF_AN_OUTCOME),
    'upgrade refused before anything stopped: %s.%s Limits: %s':
        ('upgrade refused before anything stopped: <problems>. Limits: <limits>', UNCHANGED),
    'upgrade_mode=blue-green needs %d free task slots for the new version while job %s '
    'keeps running, and the cluster has %d: nothing was changed':
        ('upgrade_mode=blue-green needs <n> free task slots for the new version while job <id> keeps running, and the cluster has <m>: nothing was changed',
         UNCHANGED),
    '2 jobs match name %r: %s and %s, and the newer one does not run the requested spec, '
    'so this is not a blue/green handover to finish; refusing to guess which one to manage':
        ("2 jobs match name '<name>': <id> and <id>, and the newer one does not run the requested "
         "spec, so this is not a blue/green handover to finish; refusing to guess which one to "
         "manage",
         UNCHANGED),
    'blue-green aborted: the new version (job %s) failed its gate: %s; %s. The running '
    'version (job %s, %s) was left untouched':
        ('blue-green aborted: the new version (job <id>) failed its gate: <failure>; <outcome>. The running version (job <id>, <state>) was left untouched',
         UNCHANGED),
    'job %s did not catch up with job %s within %ss: %d records pending for the new job, '
    '%d for the running one (pendingRecords)':
        ('job <id> did not catch up with job <id> within <n>s: <n> records pending for the new job, <n> for the running one (pendingRecords)',
         PART_OF_AN_OUTCOME),
    '%s is not a savepoint (Flink finds no _metadata file in it); nothing was disposed of':
        ('<path> is not a savepoint (Flink finds no _metadata file in it); nothing was disposed of', UNCHANGED),
    'job %s was rescaled in place to parallelism %d and failed its health gate (%s)':
        ('job <id> was rescaled in place to parallelism <n> and failed its health gate (<failure>); <what runs now>', RESCALED_JOB_RUNS),
    '%s; it runs on at parallelism %d (%s)':
        ('job <id> was rescaled in place to parallelism <n> and failed its health gate (<failure>); <what runs now>', RESCALED_JOB_RUNS),
    '%s; it was rescaled back and runs at parallelism %d again':
        ('job <id> was rescaled in place to parallelism <n> and failed its health gate (<failure>); <what runs now>', RESCALED_JOB_RUNS),
    '%s; rescaling it back to parallelism %d failed too: %s':
        ('job <id> was rescaled in place to parallelism <n> and failed its health gate (<failure>); <what runs now>', RESCALED_JOB_RUNS),
}

MESSAGES.update({
    # A whole run's deadline (_request._compose_deadline): the step it waited in, then what it left.
    'deadline must be between %s and %s seconds, got %s': (RANGE, BEFORE_ANY_REQUEST),
    '%s. The stop of job %s with a savepoint was requested (trigger %s) and is left to Flink: it may still '
    'complete; nothing was cancelled or started. Run the task again: if the job stopped, it resumes from that '
    'savepoint; if it runs, it is stopped again': (DEADLINE, DEADLINE_RAN_OUT),
    '%s. No job was stopped by this run; %s. Run the task again to finish': (DEADLINE, DEADLINE_RAN_OUT),
    '%s. This run stopped job %s with the savepoint %s and started job %s from it, which is left as it is '
    '(neither cancelled nor rolled back). Run the task again to finish: it waits for job %s and gates it, '
    'starting nothing twice; to resume from the savepoint instead, start from %s': (DEADLINE, DEADLINE_RAN_OUT),
    '%s. This run stopped job %s with the savepoint %s and started nothing. Run the task again: when no job '
    'of the name runs, it resumes from that savepoint': (DEADLINE, DEADLINE_RAN_OUT),
    # A blue/green handover whose stop of blue failed; the next run of the job finishes it.
    'blue-green handover not finished: the new version (job %s) passed its gate and runs, but stopping the '
    'previous version (job %s) with a savepoint failed: %s. Both jobs run now and process the stream (a sink '
    'that is not idempotent receives records twice). The next run of this job (flink_job with any spec or '
    'state) stops job %s with a savepoint before anything else; or stop it by hand':
        ("blue-green handover not finished: the new version (job <green>) passed its gate and runs, but "
         "stopping the previous version (job <blue>) with a savepoint failed: <cause>. Both jobs run now ...",
         HANDOVER_PENDING),
    # A crash-looping job replaced from the state it restarts from (_strategies.CrashLoop).
    '%s, and Flink deletes its checkpoints when it is cancelled: set %s in its configuration, or replace it '
    'with upgrade_mode=stateless (with savepoint_path to keep state); job left as it is':
        (CRASH_LOOP + "Flink deletes its checkpoints when it is cancelled: set "
         "execution.checkpointing.externalized-checkpoint-retention: RETAIN_ON_CANCELLATION ...; job left as it is",
         UNCHANGED),
    '%s, and it has no completed checkpoint (nor a savepoint it was started from) to carry over: replace it '
    'with upgrade_mode=stateless (it starts from savepoint_path, or from empty state); job left as it is':
        (CRASH_LOOP + "it has no completed checkpoint (nor a savepoint it was started from) to carry over ...; "
         "job left as it is", UNCHANGED),
    'crash-looping job %s was cancelled but Flink reports no retained checkpoint; nothing was started. Its '
    'checkpoint directory may still hold the state: start the job with savepoint_path set to it':
        ("crash-looping job <id> was cancelled but Flink reports no retained checkpoint; nothing was started. "
         "Its checkpoint directory may still hold the state ...", NOTHING_RUNS),
    'deleting the upload %s failed':
        ("deleting the upload <jar_id> failed: DELETE <url> answered HTTP 400 ...", REQUEST_FAILED),
})

MESSAGES.update({
    # A version by number (_versions.version_request), refused before the engine runs.
    'version must be a version number (1 or more) with state=running, got %s%s':
        ('version must be a version number (1 or more) with state=running, got <n>', BEFORE_ANY_REQUEST),
    "job %s has no recorded version %d (%s): flink_job_info lists a job's versions with their specs; "
    "nothing was changed":
        ("job <name> has no recorded version <n> (its recorded versions: <numbers>): flink_job_info lists a "
         "job's versions with their specs ...", UNCHANGED),
    'version %d of job %s is in the operation log, but its spec record was pruned (the records keep the '
    'specs of the newest %d versions and of the runs Flink lists): deploy it with jar, entry_class, args, '
    'parallelism and configuration as before; nothing was changed':
        ('version <n> of job <name> is in the operation log, but its spec record was pruned (the records keep '
         'the specs of the newest 5 versions and of the runs Flink lists) ...', UNCHANGED),
    'version cannot be combined with %s: version %d of job %s is a recorded spec. Give jar only to supply its '
    'JAR file when the JobManager lost it%s; nothing was changed':
        ('version cannot be combined with <options>: version <n> of job <name> is a recorded spec ...', UNCHANGED),
    'the JAR of version %d of job %s (sha256:%s, uploaded as %s) is not on the JobManager any more (restarted '
    'with an empty upload directory, or deleted): give that JAR file as jar, it is checked against the '
    'recorded hash; nothing was changed':
        ('the JAR of version <n> of job <name> (sha256:<hash>, uploaded as <file>) is not on the JobManager any '
         'more ...', UNCHANGED),
    'JAR file %s is not the program of version %d of job %s: its sha256 is %s, the recorded content hash is '
    'sha256:%s (the first %d hex digits); give the JAR that version ran; nothing was changed':
        ('JAR file <path> is not the program of version <n> of job <name>: its sha256 is <hash>, the recorded '
         'content hash is sha256:<hash> ...', UNCHANGED),
    'version %d of job %s ran the upload %s, whose content hash is not recorded: a JAR file cannot be checked '
    'against it; deploy it with jar and the options as before; nothing was changed':
        ('version <n> of job <name> ran the upload <jar_id>, whose content hash is not recorded ...', UNCHANGED),
    'version %d of job %s was deployed with secret values, recorded only as hashes: give them again in args '
    '(and configuration), with secret_args naming them, as when it was deployed. %s; nothing was changed':
        ('version <n> of job <name> was deployed with secret values, recorded only as hashes ...', UNCHANGED),
})

STORE_OPTIONS = "state_store s3://...: <problem>"
STORE_FAILED_ENTRY = "state_store <url>: <operation> failed: <reason>"
ZK_LOST = "ZooKeeper state store <url>: <operation>: the ZooKeeper session was lost ...; its ephemeral entries are gone"
STOP_WRITTEN = ("the savepoint of job <id> failed; the savepoint <path> was written, but the job failed while stopping "
                "and within <n>s it neither ended nor ran again (last seen <state>); nothing was started: ...")
STOP_ENDED = "the savepoint of job <id> failed; the job has ended all the same (<state>); nothing was started: ..."
MESSAGES.update({
    # The state store (opened before the first change; a write failing later is said in the outcome).
    "state_store %r is not a URL: use s3://bucket/prefix, zookeeper://host:port/chroot, "
    "postgresql://user@host:port/database or 'jobmanager'": ("... is not a URL", BEFORE_ANY_REQUEST),
    "state_store %s: unknown scheme %r (supported: s3, zookeeper, postgresql, or 'jobmanager')":
        ("state_store <url>: unknown scheme '<scheme>' (supported: s3, zookeeper, postgresql, or 'jobmanager')",
         BEFORE_ANY_REQUEST),
    "state_store %s is not a valid URL (%s)": ("state_store postgresql://...: <problem>", BEFORE_ANY_REQUEST),
    "state_store %s: not a postgresql:// URL": ("state_store postgresql://...: <problem>", BEFORE_ANY_REQUEST),
    "state_store %s: the database is missing (postgresql://user:password@host:port/database)":
        ("state_store postgresql://...: <problem>", BEFORE_ANY_REQUEST),
    "state_store %s: the host is missing (postgresql://user:password@host:port/database)":
        ("state_store postgresql://...: <problem>", BEFORE_ANY_REQUEST),
    "state_store %s: the port is not a number between 1 and 65535":
        ("state_store postgresql://...: <problem>", BEFORE_ANY_REQUEST),
    "state_store %s: %s": (STORE_OPTIONS, BEFORE_ANY_REQUEST),
    "invalid ZooKeeper state store URL %s: %s": ("invalid ZooKeeper state store URL ...: <problem>", BEFORE_ANY_REQUEST),
    "state_store %s needs the Python library boto3 on the host that runs the module":
        ("state_store ... needs the Python library <boto3|kazoo|psycopg> on the host that runs the module",
         BEFORE_ANY_REQUEST),
    "state_store %s needs the Python library psycopg (version 3) on the host that runs the module":
        ("state_store ... needs the Python library <boto3|kazoo|psycopg> on the host that runs the module",
         BEFORE_ANY_REQUEST),
    "the ZooKeeper state store needs the Python library kazoo on the host that runs the module (pip install kazoo): %s":
        ("state_store ... needs the Python library <boto3|kazoo|psycopg> on the host that runs the module",
         BEFORE_ANY_REQUEST),
    "state_store %s was written by a newer release of flinkops.flink (record format %d; this release reads format "
    "%d): upgrade the collection; nothing was changed":
        ("state_store <url> was written by a newer release of flinkops.flink (record format <n>; this release reads "
         "format <m>): upgrade the collection; nothing was changed", UNCHANGED),
    "%s failed: the server refused the user or password (check the user and password of the state_store URL, "
    "PGPASSWORD or ~/.pgpass)": ("... refused the user or password", STORE_FAILED),
    "%s failed: the store refused the credentials (HTTP %s %s): check the AWS credentials given to the module and "
    "their permissions on bucket %s": ("... refused the credentials", STORE_FAILED),
    "ZooKeeper state store %s refused the authentication of user %r": ("... refused the credentials", STORE_FAILED),
    "ZooKeeper state store %s: %s: not authorized (%s)%s": ("... not authorized", STORE_FAILED),
    "ZooKeeper state store %s: could not connect to %s within %ss": ("... could not connect to <hosts> within <n>s", STORE_FAILED),
    "%s failed: the server could not be reached or answered too late (timeout %.0f s)":
        ("... the server could not be reached or answered too late", STORE_FAILED),
    "%s failed: the store could not be reached or answered too late (timeout %.0f s)":
        ("... the server could not be reached or answered too late", STORE_FAILED),
    "ZooKeeper state store %s: %s: no answer from %s within %ss%s":
        ("... the server could not be reached or answered too late", STORE_FAILED),
    "unreachable": ("... the server could not be reached or answered too late", STORE_FAILED),
    "%s failed": (STORE_FAILED_ENTRY, STORE_FAILED),
    "%s failed: no usable AWS credentials were found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
    "AWS_PROFILE, on the host that runs the module)": (STORE_FAILED_ENTRY, STORE_FAILED),
    "%s failed: the bucket %s does not exist (create it first)": (STORE_FAILED_ENTRY, STORE_FAILED),
    "%s failed: the database does not exist (create it first)": (STORE_FAILED_ENTRY, STORE_FAILED),
    "%s failed: the role lacks a privilege on the table %s (or to create it)": (STORE_FAILED_ENTRY, STORE_FAILED),
    "%s failed: the store answered HTTP %s %s": (STORE_FAILED_ENTRY, STORE_FAILED),
    "state_store %s: %s failed for %d key(s)": (STORE_FAILED_ENTRY, STORE_FAILED),
    "ZooKeeper state store %s: %s failed: %s": (STORE_FAILED_ENTRY, STORE_FAILED),
    "ZooKeeper state store %s: %s after close()": (STORE_FAILED_ENTRY, STORE_FAILED),
    "ZooKeeper state store %s: %s: the ZooKeeper session was lost (%s); its ephemeral entries are gone":
        (ZK_LOST, STORE_FAILED),
    "ZooKeeper state store %s: %s: the ZooKeeper session was lost (expired); its ephemeral entries are gone":
        (ZK_LOST, STORE_FAILED),
    # Flink's answers and the transport.
    "cannot reach Flink (%s)": ("cannot reach Flink (cannot connect): <METHOD> <url>: <detail>", REQUEST_FAILED),
    "cannot send the request (%s)": ("cannot send the request (<reason>): <METHOD> <url>", BEFORE_ANY_REQUEST),
    "Flink answered with a body that is not JSON": ("Flink answered with a body that is not JSON: ...", REQUEST_FAILED),
    "Flink answered with an empty body where JSON was expected":
        ("Flink answered with an empty body where JSON was expected: ...", REQUEST_FAILED),
    "the savepoint or checkpoint %s cannot be read (truncated, corrupt or not a savepoint)":
        ("the savepoint or checkpoint <path> cannot be read (truncated, corrupt or not a savepoint): ...", REQUEST_FAILED),
    # How a failed stop left the job (the tail of "the savepoint of job <id> failed; ...").
    "the savepoint was written, but the job failed while stopping and Flink restarted it from its latest checkpoint; "
    "nothing was started: run the task again once the job runs":
        ("the savepoint of job <id> failed; the savepoint was written, but the job failed while stopping and Flink "
         "restarted it from its latest checkpoint; nothing was started: ...", UNCHANGED),
    "the savepoint %s was written, but the job failed while stopping and within %ss it neither ended nor ran again "
    "(last seen %s); nothing was started: run the task again, which goes on from that savepoint if the job has ended "
    "and takes a fresh one if it runs": (STOP_WRITTEN, OUTCOME_UNKNOWN),
    "the job has ended all the same (%s); nothing was started: run the task again, which resumes from its last "
    "savepoint or retained checkpoint": (STOP_ENDED, NOTHING_RUNS),
    "Flink no longer lists the job; nothing was started: run the task again, which resumes from the job's last "
    "savepoint or retained checkpoint":
        ("the savepoint of job <id> failed; Flink no longer lists the job; nothing was started: ...", NOTHING_RUNS),
    # Refusals before the stop.
    "job %s needs at least %d task slots (the parallelism of its widest operator) and the cluster has %d in all "
    "(%s TaskManager(s)): Flink would wait for slots and then fail the job. Lower parallelism or add TaskManagers; "
    "nothing was changed":
        ("job <name> needs at least <n> task slots (the parallelism of its widest operator) and the cluster has <m> "
         "in all ...", UNCHANGED),
    " Set allow_non_restored_state: true to drop that state on purpose.":
        ("upgrade refused before anything stopped: <n> stateful vertices of the running job are missing from the new "
         "program, so <bytes> bytes of state (checkpoint <id>) would be dropped: <name> (<vertex id>, <bytes> bytes)",
         UNCHANGED),
    "another deployment of job %s is in progress or has finished: it started job %s (%s) in place of job %s, so "
    "this run started nothing%s":
        ("another deployment of job <name> is in progress or has finished: it started job <id> (<state>) in place of "
         "job <id>, so this run started nothing", OTHER_RUN_ACTS),
    "job %s: this run would start job %s in place of job %s, but the state store says the name has moved on: its "
    "head is %s. Another deployment replaced job %s after this run planned (this run paused, or lost its claim); "
    "this run changed nothing further and started nothing. Run the task again to deploy over what runs now":
        ("job <name>: this run would start job <id> in place of job <id>, but the state store says the name has "
         "moved on: its head is job <id> (moved there from job <id> by <actor> at <time>) ...", OTHER_RUN_ACTS),
    "another deployment replaced job %s (the state store's head of job %s moved on), so this run started nothing":
        ("another deployment replaced job <id> (the state store's head of job <name> moved on), so this run "
         "started nothing", OTHER_RUN_ACTS),
    "the state store could not move the head of job %s to job %s, so this run submitted nothing: %s":
        ("the state store could not move the head of job <name> to job <id>, so this run submitted nothing: "
         "<store error>", STORE_FAILED),
    "the state store must move the head of job %s before any submission, a rollback's too":
        ("the state store must move the head of job <name> before any submission, a rollback's too",
         STORE_FAILED),
})

# (role, task name) -> the page's entry.
ROLE_MESSAGES = {
    ("job_deploy", "Check | the role's variables"): "Invalid input, nothing was changed: <problems>.",
    ("cluster_drain", "Check | the drain's variables"): "Invalid input, nothing was read or stopped: <problems>.",
    ("cluster_drain", "Check | the earlier manifest is JSON"):
        "<path> exists but is not JSON (truncated?), so it is not a manifest written by flinkops.flink.cluster_drain. "
        "Nothing was stopped. ...",
    ("cluster_drain", "Check | the earlier manifest is one a drain wrote"):
        "<path> exists but is not a manifest written by flinkops.flink.cluster_drain (format 1). Nothing was stopped. ...",
    ("cluster_restore", "Check | the manifest is JSON"):
        "<path> is not JSON (truncated?), so it is not a manifest written by flinkops.flink.cluster_drain. "
        "Nothing was started.",
    ("cluster_restore", "Check | the restore's variables"): "Invalid input, nothing was started: <problems>.",
    ("cluster_restore", "Pre-flight | check every JAR given in cluster_restore_jars is a file"):
        "cluster_restore_jars names JAR files that do not exist (or are not files): <paths>. Nothing was started.",
    ("job_deploy", "Pre-flight | check the request against the cluster"):
        "Pre-flight failed on Flink <version> at <url>: <problems> Nothing was changed.",
    ("job_deploy", "Report | fail with what failed and what runs now"):
        "Deployment of <name> failed in task '<task>': <message>",
    ("cluster_drain", "Check | a manifest path is set"):
        "Set flink_manifest (or cluster_drain_manifest) to the file the drain writes its manifest to.",
    ("cluster_drain", "Check | job names are unique among the jobs to stop"):
        "More than one active job has the name <names>; a manifest restores jobs by name. Nothing was stopped.",
    ("cluster_drain", "Report | fail naming each job that was not drained"):
        "The drain did not stop every job: <name> (<status>: <error>)... run the drain again to retry.",
    ("cluster_restore", "Check | a manifest path is set"):
        "Set flink_manifest (or cluster_restore_manifest) to the manifest the drain wrote.",
    ("cluster_restore", "Check | the manifest is one the drain wrote"):
        "<path> is not a manifest written by flinkops.flink.cluster_drain (format 1).",
    ("cluster_restore", "Pre-flight | check the new cluster has a free slot for every task slot the jobs need"):
        "Not enough free task slots on Flink <version>: the <n> jobs to restore need <n>, <n> of <n> are free. Nothing was started.",
    ("cluster_restore", "Report | fail naming each job that did not come back"):
        "<n> of <m> jobs did not come back: <name> (<outcome>: <error>)... it starts only what is missing.",
}


def code_templates(root=ROOT):
    found = {}
    paths = message_sites.module_closure(root, ["flink_job", "flink_savepoint"])
    classes = message_sites.error_classes(paths)
    composer_names = message_sites.composers(paths, classes)
    for path in paths:
        for line, text in message_sites.python_templates(path, classes, composer_names):
            found.setdefault(text, "%s:%d" % (os.path.relpath(path, root), line))
    return found


def missing_and_stale(found, table):
    return sorted(set(found) - set(table)), sorted(set(table) - set(found))


def test_every_message_has_an_entry():
    missing, stale = missing_and_stale(code_templates(), MESSAGES)
    assert not missing, "messages without a row in MESSAGES (and an entry on the troubleshooting page): %s" % missing
    assert not stale, "rows of MESSAGES whose message the code no longer composes: %s" % stale


def test_every_role_message_has_an_entry():
    found = dict(((role, task), message)
                 for role in ("job_deploy", "cluster_drain", "cluster_restore")
                 for _file, task, message in message_sites.role_messages(os.path.join(ROOT, "roles", role)))
    missing, stale = missing_and_stale(found, ROLE_MESSAGES)
    assert not missing and not stale, (missing, stale)
    # The entry says what the task's message says, Jinja expressions standing for values.
    for key, message in found.items():
        shown = re.sub(r"\{\{.*?\}\}|\{%.*?%\}", "X", message)
        assert re.match(message_sites.heading_pattern(ROLE_MESSAGES[key]), shown), (key, shown)


def test_every_entry_is_on_the_page():
    headings = set(message_sites.doc_headings(PAGE))
    absent = sorted(set(heading for heading, _claim in MESSAGES.values()) - headings) + sorted(set(ROLE_MESSAGES.values()) - headings)
    assert not absent, "entries missing from troubleshooting.rst: %s" % absent


def test_a_new_message_without_an_entry_fails_the_table(tmp_path):
    """The table can fail: a message added to a module_utils file is found and reported."""
    utils = tmp_path / "plugins" / "module_utils"
    modules = tmp_path / "plugins" / "modules"
    utils.mkdir(parents=True)
    modules.mkdir(parents=True)
    (modules / "flink_job.py").write_text(
        "from ansible_collections.flinkops.flink.plugins.module_utils._new import x\n")
    (modules / "flink_savepoint.py").write_text("")
    (utils / "_new.py").write_text(textwrap.dedent("""
        def x(job_id):
            raise FlinkError("job %s vanished into thin air" % job_id)
    """))
    missing, _stale = missing_and_stale(code_templates(str(tmp_path)), MESSAGES)
    assert missing == ["job %s vanished into thin air"]


def test_a_new_role_failure_without_an_entry_fails_the_table(tmp_path):
    """The same for a role: a fail task added inside a block is found and reported."""
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "main.yml").write_text(textwrap.dedent("""
        - name: Outer
          block:
            - name: Check | something new
              ansible.builtin.fail:
                msg: Something new went wrong.
    """))
    found = dict((("cluster_drain", task), message) for _file, task, message in message_sites.role_messages(str(tmp_path)))
    missing, _stale = missing_and_stale(found, ROLE_MESSAGES)
    assert missing == [("cluster_drain", "Check | something new")]


def _template_pattern(text):
    return re.escape(text).replace("%s", ".+?").replace("%r", ".+?").replace("%d", r"\d+")


_CHANGES = re.compile(r"^(POST /jars/[^/]+/run|PATCH /jobs/|PUT |DELETE |POST /savepoint-disposal)")


def assert_situation(template, calls, script=None, message=None):
    """The requests a situation sent agree with what its row claims."""
    claim = MESSAGES[template][1]
    if claim == BEFORE_ANY_REQUEST:
        assert calls == [], calls
    elif claim in (UNCHANGED, REQUEST_FAILED):
        assert not [call for call in calls if _CHANGES.match(call)], calls
    elif claim == ROLLED_BACK:
        # The last job started is the previous spec, from the savepoint the message names.
        body = script.body_of("/run")
        assert body["programArgsList"] == OLD_SPEC.args and body["savepointPath"] in message, (body, message)
        assert body["jobId"] in message
    elif claim == NOTHING_RUNS:
        # The old job was stopped, nothing started since runs, and the state's place is named.
        assert any(call.endswith("/stop") for call in calls), calls
        assert SP in message, message
        ran = [call for call in calls if call.startswith("POST /jars/") and call.endswith("/run")]
        cancelled = [call for call in calls if call.startswith("PATCH /jobs/")]
        assert len(ran) == 1 or cancelled or "failed too" in message, (calls, message)
    else:
        raise AssertionError("no check for the claim %r yet" % claim)


def assert_explained(template, message):
    """``message`` (produced) is the template's, and its page entry's pattern matches it."""
    assert re.search(_template_pattern(template), message), (template, message)
    heading = MESSAGES[template][0]
    assert re.match(message_sites.heading_pattern(heading), message), (heading, message)


# -- situations, each producing a message ------------------------------------------------------


def _request_problem(**fields):
    base = dict(name="orders", jar_path="/x.jar")
    base.update(fields)
    return _job_options.request_problems(DeployRequest(**base))[0]


@pytest.mark.parametrize("template,produce", [
    ("name must not be empty: it is the job name Flink reports", lambda: _request_problem(name="")),
    ("parallelism must be 1 or more, got %d", lambda: _request_problem(parallelism=0)),
    ("%s must be between %s and %s seconds, got %s", lambda: _request_problem(wait_timeout=0)),
    ("health_window needs wait=true", lambda: _request_problem(wait=False, health_window=5)),
    ("secret_args %s match no argument in args (a flag args holds, such as --db-password, or a position "
     "from 0 to %d): a typo would leave the secret in clear; nothing was changed",
     lambda: _request_problem(args=["--db-password", "x"], secret_args=["--db-pasword"])),
    ("configuration key %s has no value (null): give it a value, or leave the key out to use the "
     "cluster's setting", lambda: _spec.normalize_configuration({"a.b": None})),
    ("JAR file %s does not exist (or is not a file)", lambda: _store.local_jar("/no/such.jar")),
    ("%d jobs match name %r (%s): %s; refusing to guess which one to manage",
     lambda: _jobstate.the_active_run([job("a" * 32), job("b" * 32, state="RESTARTING")], "orders", "exact")),
    ("job %s (%s) is %s; a savepoint needs a RUNNING job",
     lambda: flink_savepoint.must_run(job("a" * 32, state="RESTARTING"))),
    ("url must start with http:// or https://, got %r", lambda: FlinkClient("flink:8081")),
])
def test_option_and_input_messages(template, produce):
    with pytest.raises(FlinkError) as failed:
        problem = produce()
        raise FlinkError(problem) if isinstance(problem, str) else AssertionError("no failure")
    assert_explained(template, str(failed.value))
    assert_situation(template, [])  # pure functions of the options and answers: no client


@pytest.mark.parametrize("status,answer,template", [
    (401, {"errors": ["Unauthorized"]}, "authentication failed (check url_username/url_password or bearer_token)"),
    (403, None, "access denied by the REST endpoint"),
    (404, None, "not found"),
    (500, {"errors": ["java.lang.RuntimeException\nCaused by: java.lang.IllegalStateException: boom"]},
     "Flink rejected the request"),
])
def test_http_messages(client, script, status, answer, template):
    script.on("GET", "/jobs/overview", answer, status=status)
    with pytest.raises(FlinkError) as failed:
        client.get("/jobs/overview")
    assert_explained(template, str(failed.value))
    assert_situation(template, script.calls())


def test_no_job_with_that_id(client, script):
    script.on("GET", "/jobs/overview", overview(job("a" * 32)))
    with pytest.raises(FlinkError) as failed:
        flink_savepoint.job_by_id(client, "b" * 32)
    assert_explained("no job with id %s on the cluster", str(failed.value))
    assert_situation("no job with id %s on the cluster", script.calls())


def test_a_failed_savepoint_says_the_job_runs_on(client, script, jar, sha, uploaded):  # noqa: F811 pylint: disable=redefined-outer-name
    req, current = upgrade_setup(script, jar, sha, uploaded)
    script.on("POST", "/jobs/%s/stop" % current["jid"], {"request-id": "t1"})
    script.on("GET", "/jobs/%s/savepoints/t1" % current["jid"], savepoint_done(failure="java.io.IOException: disk full"))
    script.on("GET", "/jobs/overview", overview(current))
    with pytest.raises(FlinkError) as failed:
        engine(client, req).run()
    assert_explained("%s failed%s", str(failed.value))
    assert_situation("%s failed%s", script.calls())
    assert "the job was left as it is" in str(failed.value)  # true: the job still runs (RUNNING)


def test_an_upgrade_without_a_savepoint_directory(client, script, jar, sha, uploaded):  # noqa: F811 pylint: disable=redefined-outer-name
    req, _current = upgrade_setup(script, jar, sha, uploaded, savepoint_dir=None)
    script.on("GET", "/jobmanager/config", [])
    with pytest.raises(FlinkError) as failed:
        engine(client, req).run()
    assert_explained("no savepoint directory: set savepoint_dir, or configure execution.checkpointing."
                     "savepoint-dir (state.savepoints.dir on 1.x) on the cluster; job %s was left running",
                     str(failed.value))
    assert_situation("no savepoint directory: set savepoint_dir, or configure execution.checkpointing."
                     "savepoint-dir (state.savepoints.dir on 1.x) on the cluster; job %s was left running",
                     script.calls())


def _failed_upgrade(client, script, req, sha, current, cancel=False, rollback_run=None):  # noqa: F811 pylint: disable=redefined-outer-name
    expect_stop(script, job_id=current["jid"])
    failed_id = expect_failing_start(script, spec_of(req, sha))
    if cancel:
        script.on("GET", "/jobs/overview", overview(job(failed_id, state="RESTARTING")))
        script.on("PATCH", "/jobs/%s" % failed_id, {})
        script.on("GET", "/jobs/overview", overview(job(failed_id, state="CANCELED", end=1)))
    if rollback_run == "ok":
        expect_run(script, OLD_SPEC)
    elif rollback_run == "fails":
        script.on("GET", "/jobs/overview", overview(job(failed_id, state="FAILED", end=2)))
        script.on("POST", "/jars/.*/run", {"errors": ["java.io.FileNotFoundException: Cannot find "
                                                      "checkpoint or savepoint"]}, status=400)
        script.on("GET", "/jobs/overview", overview(job(failed_id, state="FAILED", end=2)))
    with pytest.raises(FlinkError) as failed:
        engine(client, req).run()
    return str(failed.value)


def test_a_rolled_back_upgrade(client, script, jar, sha, uploaded):  # noqa: F811 pylint: disable=redefined-outer-name
    req, current = upgrade_setup(script, jar, sha, uploaded)
    message = _failed_upgrade(client, script, req, sha, current, cancel=True, rollback_run="ok")
    template = ("the new version (job %s) failed and was rolled back: the previous version runs again as "
                "job %s, restored from %s. The failure: %s")
    assert_explained(template, message)
    assert_situation(template, script.calls(), script, message)


def test_an_upgrade_whose_rollback_failed_too(client, script, jar, sha, uploaded):  # noqa: F811 pylint: disable=redefined-outer-name
    req, current = upgrade_setup(script, jar, sha, uploaded)
    message = _failed_upgrade(client, script, req, sha, current, rollback_run="fails")
    template = [t for t in MESSAGES if t.startswith("the new version (job %s) failed, and starting")][0]
    assert_explained(template, message)
    assert_situation(template, script.calls(), script, message)


def test_an_upgrade_with_rollback_off(client, script, jar, sha, uploaded):  # noqa: F811 pylint: disable=redefined-outer-name
    req, current = upgrade_setup(script, jar, sha, uploaded, rollback=False)
    message = _failed_upgrade(client, script, req, sha, current)
    template = "the new version failed and the previous job %s is stopped (%s); not rolled back: %s. %s"
    assert_explained(template, message)
    assert_explained("rollback is off", message)
    assert_situation(template, script.calls(), script, message)


def test_an_upgrade_of_a_job_of_unknown_spec(client, script, jar, sha, uploaded):  # noqa: F811 pylint: disable=redefined-outer-name
    req = request(jar)
    current = job("c" * 32)  # started by another tool: no record
    script.on("GET", "/jobs/overview", overview(current))
    expect_prepared(script, uploaded, spec_of(req, sha))
    message = _failed_upgrade(client, script, req, sha, current, cancel=True)
    assert_explained("; the new job %s was cancelled", message)
    assert_situation("; the new job %s was cancelled", script.calls(), script, message)


class _SavepointModule:  # what flink_savepoint.running_job reads of its module
    def __init__(self, client, **params):
        self.client = client
        self.params = dict(dict(job_id=None, name="orders"), **params)


@pytest.mark.parametrize("jobs,template", [
    ([], "no running job named %r"),
    ([job("a" * 32), job("b" * 32, state="RESTARTING")], "%d active jobs are named %r (%s): name the one with job_id"),
])
def test_a_savepoint_of_a_job_by_name(client, script, jobs, template):
    script.on("GET", "/jobs/overview", overview(*jobs))
    with pytest.raises(FlinkError) as failed:
        flink_savepoint.running_job(_SavepointModule(client))
    assert_explained(template, str(failed.value))
    assert_situation(template, script.calls())


def test_a_last_state_upgrade_of_a_job_without_a_checkpoint(client, script, jar, sha, uploaded):  # noqa: F811 pylint: disable=redefined-outer-name
    req, current = upgrade_setup(script, jar, sha, uploaded, upgrade_mode="last-state")
    script.on("GET", "/jobs/%s/checkpoints" % current["jid"], {"latest": {"completed": None}})
    with pytest.raises(FlinkError) as failed:
        engine(client, req).run()
    template = "upgrade_mode=last-state needs a completed checkpoint of job %s, and it has none; job left running"
    assert_explained(template, str(failed.value))
    assert_situation(template, script.calls())
