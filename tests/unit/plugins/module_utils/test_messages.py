# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every failure message of flink_job, flink_savepoint and the roles, against the troubleshooting
page (docs/docsite/rst/troubleshooting.rst).

MESSAGES maps each message template the code composes (found in the source by
message_sites.python_templates, never listed by hand) to the page's entry that explains it (the
``literal`` that starts the entry). ROLE_MESSAGES does the same for the roles' fail/assert tasks.
A message added to the code without an entry here fails test_every_message_has_an_entry; an entry
whose message is gone fails it too. SITUATIONS drive a message on the scripted Flink (or its
pure function) and check the message produced matches its page entry, values filled in.
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
    engine,
    fixed_job_ids,
    jar,
    sha,
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
RANGE = "<savepoint_timeout|wait_timeout|health_window> must be between <low> and <high> seconds, got <n>"
SAVEPOINT_OPTIONS = "drain needs stop=true: ..."

MESSAGES = {
    # Options, checked before any request.
    "url must start with http:// or https://, got %r": "url must start with http:// or https://, got '<url>'",
    "request_timeout must be a number of seconds, got %s": "request_timeout must be a number of seconds, got <n>",
    "request_timeout must be between 0 and 3600 seconds, got %s": "request_timeout must be between 0 and 3600 seconds, got <n>",
    "request_retries must be between 0 and 10, got %s": "request_retries must be between 0 and 10, got <n>",
    "name must not be empty: it is the job name Flink reports": "name must not be empty: it is the job name Flink reports",
    "parallelism must be 1 or more, got %d": "parallelism must be 1 or more, got <n>",
    "%s must be between %s and %s seconds, got %s": RANGE,
    "wait_timeout must be between 1 and 86400 seconds, got %s": RANGE,
    "secret_args %s match no argument in args (a flag args holds, such as --db-password, or a position "
    "from 0 to %d): a typo would leave the secret in clear; nothing was changed":
        "secret_args <flags> match no argument in args (...): a typo would leave the secret in clear ...",
    "health_window needs wait=true": "health_window needs wait=true",
    "health_require_checkpoint needs wait=true": "health_require_checkpoint needs wait=true",
    "%s %r is relative: Flink would resolve it against the JobManager's working directory; give an "
    "absolute path or a URI such as file:///flink/savepoints or s3://bucket/savepoints":
        "<option> '<path>' is relative: Flink would resolve it against the JobManager's working directory ...",
    "%s needs Flink %s or newer; this cluster runs Flink %s": "<option> needs Flink <version> or newer; this cluster runs Flink <version>",
    "configuration key %s has no value (null): give it a value, or leave the key out to use the "
    "cluster's setting": "configuration key <key> has no value (null) ...",
    "configuration key %s: a list holds only plain values (Flink's list form is item;item;...)":
        "configuration key <key>: a list holds only plain values ...",
    "configuration key %s is given twice (once nested, once dotted)":
        "configuration key <key> is given twice (once nested, once dotted)",
    "job_ids is empty: name at least one job": "job_ids is empty: name at least one job",
    "drain needs stop=true: only a stop with savepoint drains the job (emits the final watermark); a "
    "savepoint of a job that keeps running never does": SAVEPOINT_OPTIONS,
    "max_age must be a number of seconds more than 0, got %s": "max_age must be a number of seconds more than 0, got <n>",
    "keep needs state=absent: it disposes of the job's older savepoints": "keep needs state=absent: ...",
    "keep must be 1 or more, got %d: the newest savepoint is what a stopped job resumes from":
        "keep must be 1 or more, got <n>: ...",
    # Credentials and files of the connection.
    "bearer_token is %d characters long: not a token (check the variable that sets it)":
        "bearer_token is <n> characters long: not a token ...",
    "%s: the value of %s is %d characters long: too short for a credential (check the variable that "
    "sets it)": "<option>: the value of <name> is <n> characters long: too short for a credential ...",
    "%s must be the path of a PEM file; the value given is PEM content itself (not shown)":
        "<option> must be the path of a PEM file; the value given is PEM content itself (not shown)",
    "%s: directory %s is not readable": "<option>: directory <path> is not readable",
    "%s: no readable file at %s": "<ca_path|client_cert|client_key>: no readable file at <path>",
    "client_key: %s is not a PEM private key (no '-----BEGIN ... PRIVATE KEY-----' line)":
        "client_key: <path> is not a PEM private key ...",
    "client_key: %s is encrypted; the key must be an unencrypted PEM file":
        "client_key: <path> is encrypted; the key must be an unencrypted PEM file",
    "%s: %s is not a PEM certificate file (no '%s' line)": "<option>: <path> is not a PEM certificate file ...",
    "client_cert: %s holds no private key; set client_key to the key's PEM file":
        "client_cert: <path> holds no private key; set client_key to the key's PEM file",
    "%s: the value of %s has a character that HTTP headers cannot carry (position %d; only Latin-1 is "
    "allowed)": "<option>: the value of <header> has a character that HTTP headers cannot carry ...",
    "%s: the value of %s spans several lines": "<option>: the value of <header> spans several lines",
    # Connection and HTTP (the transport's kinds are the parenthesis of "cannot reach Flink (...)").
    "cannot connect": "cannot reach Flink (cannot connect): <METHOD> <url>: <detail>",
    "connection timed out": "cannot reach Flink (connection timed out): ...",
    "no answer before the timeout": "cannot reach Flink (no answer before the timeout): ...",
    "connection closed before an answer": "cannot reach Flink (connection closed before an answer): ...",
    "the proxy %s refused or failed the connection":
        "cannot reach Flink (the proxy <proxy> refused or failed the connection): ...",
    "TLS error: %s": TLS,
    "TLS error: the server certificate is not trusted (set ca_path to the CA that signed it)": TLS,
    "TLS handshake failed: the server does not speak TLS on this port; use an http:// URL or the TLS port": TLS,
    "TLS error: ca_path, client_cert or client_key cannot be loaded":
        "cannot reach Flink (TLS error: ca_path, client_cert or client_key cannot be loaded): ...",
    "TLS error (the server refused the handshake: a client certificate missing or not trusted?)": TLS,
    "invalid request (%s)": "cannot reach Flink (request failed (NAME)): ...",
    "request failed (%s)": "cannot reach Flink (request failed (NAME)): ...",
    "authentication failed (check url_username/url_password or bearer_token)": HTTP_401,
    "access denied by the REST endpoint": "access denied by the REST endpoint: ... answered HTTP 403",
    "not found": "not found: ... answered HTTP 404",
    "the proxy %s answered instead of Flink (Flink was not reached)": PROXY_502,
    "a proxy or gateway in front of Flink answered (Flink was not reached)": PROXY_502,
    "the proxy %s requires authentication": "the proxy <proxy> requires authentication: ... answered HTTP 407",
    "Flink rejected the request": "Flink rejected the request: <METHOD> <url> answered HTTP <status>: <cause>",
    "unexpected answer from Flink (%s: %s; %s)": "unexpected answer from Flink (...; the last answer: GET URL, HTTP 200)",
    "%s (after a first attempt %s: %s)": "... (after a first attempt was lost: <cause>)",
    "timed out after %ss waiting for %s": "timed out after <n>s waiting for <what>",
    # Jobs.
    "%d jobs match name %r (%s): %s; refusing to guess which one to manage":
        "<n> jobs match name '<name>' (<exact|prefix>): <id> (<state>), ...; refusing to guess which one to manage",
    "%d active jobs are named %r (%s): name the one with job_id":
        "<n> active jobs are named '<name>' (<ids>): name the one with job_id",
    "no running job named %r": "no running job named '<name>'",
    "no job with id %s on the cluster": "no job with id <id> on the cluster",
    "job %s (%s) is %s; a savepoint needs a RUNNING job": "job <id> (<name>) is <state>; a savepoint needs a RUNNING job",
    "%d of %d savepoints failed: %s": "<n> of <m> savepoints failed: job <id>: <message>; ...",
    "no uploaded JAR with id %s on the cluster": "no uploaded JAR with id <jar_id> on the cluster",
    "JAR file %s does not exist (or is not a file)": "JAR file <path> does not exist (or is not a file)",
    "cannot read JAR file %s: %s": "cannot read JAR file <path>: <error>",
    "%s is not a JAR file (a JAR is a ZIP archive; this file does not start with a ZIP header)":
        "<path> is not a JAR file (a JAR is a ZIP archive; this file does not start with a ZIP header)",
    "no savepoint directory: set savepoint_dir, or configure execution.checkpointing.savepoint-dir "
    "(state.savepoints.dir on 1.x) on the cluster; job %s was left running":
        "no savepoint directory: set savepoint_dir, or configure execution.checkpointing.savepoint-dir "
        "(state.savepoints.dir on 1.x) on the cluster; job <id> was left running",
    "%s failed%s": "<operation> failed...: GET <url> answered HTTP 200: <cause>",
    "%s did not complete within %ss%s":
        "the savepoint of job <id> did not complete within <n>s (trigger <trigger id>); the job was left as it is",
    "upgrade_mode=last-state needs a completed checkpoint of job %s, and it has none; job left running":
        "upgrade_mode=last-state needs a completed checkpoint of job <id>, and it has none; job left running",
    "upgrade_mode=last-state needs checkpoints retained on cancellation (execution.checkpointing."
    "externalized-checkpoint-retention: RETAIN_ON_CANCELLATION); job %s left running":
        "upgrade_mode=last-state needs checkpoints retained on cancellation (execution.checkpointing."
        "externalized-checkpoint-retention: RETAIN_ON_CANCELLATION); job <id> left running",
    "job %s (%s) went %s instead of running": "job <id> (<name>) went <state> instead of running: <cause>",
    "job %s (%s) %s": "job <id> (<name>) <state and tasks>",
    "job %s is not healthy: %s": "job <id> is not healthy: state <state>, tasks <counts>: <cause>",
    "job %s restarted during the health window": "job <id> restarted during the health window: <cause>",
    "job %s completed no checkpoint within the health window of %ss":
        "job <id> completed no checkpoint within the health window of <n>s",
    "the new version (job %s) failed and was rolled back: the previous version runs again as job %s, "
    "restored from %s. The failure: %s":
        "the new version (job <id>) failed and was rolled back: the previous version runs again as job "
        "<id>, restored from <savepoint>. The failure: <message>",
    "the new version (job %s) failed, and starting the previous version again from %s failed too, so "
    "%s; %s. Fix the cause and run the task again. The new version's failure: %s. The rollback's "
    "failure: %s":
        "the new version (job <id>) failed, and starting the previous version again from <path> failed "
        "too, so nothing runs now; ...",
    "job %s was cancelled but Flink reports no retained checkpoint; nothing was started. Its checkpoint "
    "directory may still hold the state: start the job with savepoint_path set to it":
        "job <id> was cancelled but Flink reports no retained checkpoint; nothing was started. ...",
    "%s. The stop of job %s with a savepoint was requested (trigger %s) and its outcome is unknown: "
    "Flink may still stop the job. Run the task again: if the job stopped, it resumes from that savepoint":
        "... The stop of job <id> with a savepoint was requested (trigger <id>) and its outcome is unknown ...",
    "%s. This run had stopped job %s with the savepoint %s, and nothing was rolled back.%s Run the task "
    "again: when no job of the name runs, it goes on from that savepoint; when one does, it names it":
        "... This run had stopped job <id> with the savepoint <path>, and nothing was rolled back ...",
    "the new version failed and the previous job %s is stopped (%s); not rolled back: %s. %s": NOT_ROLLED_BACK,
    "rollback is off": NOT_ROLLED_BACK,
    "; the new job %s was cancelled": NOT_ROLLED_BACK,
    "job %s (%s) could not be started again if the new version failed: %s. Deploy with rollback=false "
    "to upgrade without that way back; nothing was changed": NO_WAY_BACK,
    "its JAR (upload %s) is not on the JobManager any more": NO_WAY_BACK,
    "the recorded spec holds secret values that differ from the ones given now (%s): they are stored "
    "only as hashes, so that spec cannot be started again":
        "the recorded spec holds secret values that differ from the ones given now (<args>): ...",
    "the cluster runs with high availability (%s): each JobManager keeps its own JAR upload directory, "
    "where flinkops.flink would keep job %s's records, and a restarted JobManager starts with an empty one": HA,
    "%s. Set state_store to a durable store (s3://bucket/prefix, zookeeper://host:port/chroot or "
    "postgresql://user@host:port/database), or to 'jobmanager' if that upload directory is durable and "
    "shared by every JobManager. Nothing was changed: every job runs on as it was": HA,
    # The concurrency guard.
    "another deployment of job %s is in progress: %s (%s); this run changed nothing": IN_PROGRESS,
    "another deployment of job %s is in progress: %s (it replaces job %s); nothing was changed":
        "another deployment of job <name> is in progress: <actor> (it replaces job <id>); nothing was changed",
    "%s; still in progress after waiting %ss (concurrent_wait_timeout)":
        "... still in progress after waiting <n>s (concurrent_wait_timeout)",
    "job %s: %d attempts to replace job %s ended without success; nothing was changed. Start the job "
    "under a new name, or from savepoint_path after cancelling job %s":
        "job <name>: <n> attempts to replace job <id> ended without success; nothing was changed ...",
    "the intent record of job %s was written but is not listed by GET /jars; nothing was changed":
        "the intent record of job <name> was written but is not listed by GET /jars; nothing was changed",
    "job %s was superseded by another deployment (%s)": "job <id> was superseded by another deployment (<actor> since <time>)",
    "job %s has history on this cluster (last: %s, job %s) but Flink lists no run of it (a JobManager "
    "without high availability lost its job list?); refusing to start it from empty state. %s, or set "
    "allow_start_empty=true to start without state":
        "job <name> has history on this cluster (last: <action>, job <id>) but Flink lists no run of it "
        "...; refusing to start it from empty state",
    "the program started a job named %r, not %r (name_match=%s): job %s was cancelled. Set name to the "
    "name the program passes to execute(), or change the program":
        "the program started a job named '<name>', not '<name>' (name_match=<mode>): job <id> was cancelled",
    "job %s runs the requested spec but is not healthy (%s; %d restart(s) in the last %d minutes): %s. "
    "Fix the cause and deploy again, or set health_window to wait for it to recover":
        "job <id> runs the requested spec but is not healthy (<state>; <n> restart(s) in the last 10 "
        "minutes): <cause>",
    "job %s runs the requested spec, but %s and it failed the health gate: %s":
        "job <id> runs the requested spec, but <why> and it failed the health gate: <failure>",
    # The health gate's checkpoint, the state pre-check, blue/green.
    "the checkpoint triggered to prove job %s healthy failed (trigger %s)":
        "the checkpoint triggered to prove job <id> healthy failed (trigger <id>): <cause>",
    "job %s has checkpointing off (no periodic checkpoint interval), so health_require_checkpoint "
    "cannot be met: it would never checkpoint on its own and could not recover its state. Enable "
    "checkpointing (execution.checkpointing.interval) or set health_require_checkpoint: false":
        "job <id> has checkpointing off (no periodic checkpoint interval), so health_require_checkpoint "
        "cannot be met ...",
    "upgrade refused before anything stopped: %s.%s Limits: %s":
        "upgrade refused before anything stopped: <problems>. Limits: <limits>",
    "upgrade_mode=blue-green needs %d free task slots for the new version while job %s keeps running, "
    "and the cluster has %d: nothing was changed":
        "upgrade_mode=blue-green needs <n> free task slots for the new version while job <id> keeps "
        "running, and the cluster has <m>: nothing was changed",
    "2 jobs match name %r: %s and %s, and the newer one does not run the requested spec, so this is not "
    "a blue/green handover to finish; refusing to guess which one to manage":
        "2 jobs match name '<name>': <id> and <id>, and the newer one does not run the requested spec, so "
        "this is not a blue/green handover to finish; refusing to guess which one to manage",
    "blue-green aborted: the new version (job %s) failed its gate: %s; %s. The running version (job %s, "
    "%s) was left untouched":
        "blue-green aborted: the new version (job <id>) failed its gate: <failure>; <outcome>. The running "
        "version (job <id>, <state>) was left untouched",
    "job %s did not catch up with job %s within %ss: %d records pending for the new job, %d for the "
    "running one (pendingRecords)":
        "job <id> did not catch up with job <id> within <n>s: <n> records pending for the new job, <n> "
        "for the running one (pendingRecords)",
    "%s is not a savepoint (Flink finds no _metadata file in it); nothing was disposed of":
        "<path> is not a savepoint (Flink finds no _metadata file in it); nothing was disposed of",
}

# (role, task name) -> the page's entry.
ROLE_MESSAGES = {
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
    for path in message_sites.module_closure(root, ["flink_job", "flink_savepoint"]):
        for line, text in message_sites.python_templates(path):
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
    absent = sorted(set(MESSAGES.values()) - headings) + sorted(set(ROLE_MESSAGES.values()) - headings)
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


def _template_pattern(text):
    return re.escape(text).replace("%s", ".+?").replace("%r", ".+?").replace("%d", r"\d+")


def assert_explained(template, message):
    """``message`` (produced) is the template's, and its page entry's pattern matches it."""
    assert re.search(_template_pattern(template), message), (template, message)
    heading = MESSAGES[template]
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


def test_no_job_with_that_id(client, script):
    script.on("GET", "/jobs/overview", overview(job("a" * 32)))
    with pytest.raises(FlinkError) as failed:
        flink_savepoint.job_by_id(client, "b" * 32)
    assert_explained("no job with id %s on the cluster", str(failed.value))


def test_a_failed_savepoint_says_the_job_runs_on(client, script, jar, sha, uploaded):  # noqa: F811 pylint: disable=redefined-outer-name
    req, current = upgrade_setup(script, jar, sha, uploaded)
    script.on("POST", "/jobs/%s/stop" % current["jid"], {"request-id": "t1"})
    script.on("GET", "/jobs/%s/savepoints/t1" % current["jid"], savepoint_done(failure="java.io.IOException: disk full"))
    script.on("GET", "/jobs/overview", overview(current))
    with pytest.raises(FlinkError) as failed:
        engine(client, req).run()
    assert_explained("%s failed%s", str(failed.value))
    assert "the job was left as it is" in str(failed.value)  # true: the job still runs (RUNNING)


def test_an_upgrade_without_a_savepoint_directory(client, script, jar, sha, uploaded):  # noqa: F811 pylint: disable=redefined-outer-name
    req, _current = upgrade_setup(script, jar, sha, uploaded, savepoint_dir=None)
    script.on("GET", "/jobmanager/config", [])
    with pytest.raises(FlinkError) as failed:
        engine(client, req).run()
    assert_explained("no savepoint directory: set savepoint_dir, or configure execution.checkpointing."
                     "savepoint-dir (state.savepoints.dir on 1.x) on the cluster; job %s was left running",
                     str(failed.value))
