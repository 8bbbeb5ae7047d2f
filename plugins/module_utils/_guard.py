# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""The concurrency guard: at most one deployment of a job name acts at a time.

The only ground runs share is Flink's REST API, and it offers two atomic
primitives: a client-chosen job id is accepted at most once per JobManager
lifetime (a second run request answers DuplicateJobSubmissionException, even
after the first one failed), and a stop with a client-chosen trigger id can be
repeated and polled. Everything here is built on those two:

- The fence. The job that replaces job P of name N gets the id
  ``successor_id(N, P)``, the same for every run that acts on P. Two runs that
  both replace P can never both start a job: the second submit is refused.
- The election (liveness, not safety). Before it stops anything a run writes an
  intent record keyed by that successor id, re-reads the JAR store, and defers
  to the earliest intent. Losers fail fast (or wait) with a message naming the
  winner; if two runs both think they won, the fence still admits only one.
  The winner's claim is a lease (``_lease``): it renews it until it lets go, and
  a claim is taken over only once its renewals stopped (``abandoned``).
- The stop trigger is ``stop_trigger_id(P, S)``: runs that both stop P for the
  same successor share one stop operation (two different trigger ids on one job
  were seen to both fail), and a lost answer is repeated and polled.

Why no two jobs of N are ever active (the engine's steps 2-4): every start of a
job of N is a submission of successor(N, X) for the job X it replaces, where X
is the newest job of N the run saw. A run that saw X still active stops X
first, so its start follows X's end; two runs that saw the same X compete for
one id and Flink admits one. A run that saw an older X' than another run's X
would submit successor(N, X'), which that other run already used (X is
successor(N, X') or a later one in the chain it started from), so it is refused
too; a rollback of a failed job K submits successor(N, K), fenced the same way.
What is not covered: a JobManager without HA that restarts forgets the ids it
accepted (the engine then refuses to start a job with history from empty
state), and a run that acts after its own claim expired (only the fence holds).

Records are the names of empty entries (like the spec records) in the job's record
storage (``_records``: the JAR store, or a durable state store). Pure logic over
those entries and /jobs/overview; records are reached only through ``store``.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import itertools
import json
import os
import re
import socket
import time
import zlib

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._lease import (
    LEASE_MS,
    Renewer,
    fresh,
    renewal_thread_records,
    utc,
)
from ansible_collections.flinkops.flink.plugins.module_utils._records._schema import INTENT, conforms

GENESIS = "genesis"
TERMINAL_STATES = ("FINISHED", "CANCELED", "FAILED")
_CHUNK = 140
_INTENT = re.compile(r"^flinkops-intent-([0-9a-f]{32})-([0-9a-f]{8})-(\d+)-(\d+)-"
                     r"([A-Za-z0-9_-]*)\.jar$")
_CONFIRM = re.compile(r"^flinkops-run-([0-9a-f]{12})-([0-9a-f]{32})-([0-9a-f]{16})\.jar$")
_PLANNED = re.compile(r"^flinkops-plan-([0-9a-f]{12})-([0-9a-f]{32})-([0-9a-f]{16})\.jar$")
# A claim's renewal: successor id, the claim's nonce, a sequence number (``_lease``).
_RENEWAL = re.compile(r"^flinkops-renew-([0-9a-f]{32})-([0-9a-f]{8})-(\d+)\.jar$")
# An unlisted job's planned-submission record outlives any run that could still submit it.
PLANNED_KEPT_MS = 24 * 3600 * 1000
_LEGACY_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def _hex(text, chars=32):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:chars]


def name_hash(name):
    return _hex("flinkops-name:" + name, 12)


def successor_id(name, predecessor, attempt=0, lineage=""):
    """The id of the job that replaces ``predecessor`` (a job id or GENESIS) as job ``name``.

    ``lineage`` tells clusters apart (``_jobstate.cluster_lineage``): the first job of a name,
    or a job restored from another cluster's savepoint, never gets the id it has elsewhere
    (clusters that share checkpoint storage keep checkpoints under the job id). ``attempt``
    counts the attempts to replace ``predecessor`` that ended (``next_successor``).
    """
    key = "flinkops:%s:%s" % (name, predecessor or GENESIS)
    if lineage:
        key += ":lineage=" + lineage
    if attempt:
        key += ":attempt=%d" % attempt
    return _hex(key)


MAX_ATTEMPTS = 32


def ended_attempts(jobs, operations):
    """Ids of submissions that ended without replacing their predecessor for good: the ended
    jobs Flink lists (an aborted blue/green's green, a failed start) and the failed ones the
    operation log names (Flink forgets ended jobs after an hour or a leader change)."""
    active = set(job.get("jid") for job in jobs if job.get("state") not in TERMINAL_STATES)
    ended = set(job.get("jid") for job in jobs if job.get("state") in TERMINAL_STATES)
    for entry in operations:
        ended.add(entry.get("failed_job_id"))
        if entry.get("action") == "failed":
            ended.add(entry.get("job_id"))
    ended.discard(None)
    return ended - active


def next_successor(name, predecessor, ended, lineage=""):
    """The successor id of ``predecessor`` that no ended attempt consumed.

    Every run that replaces ``predecessor`` computes it from the same ended attempts, so runs
    that compete still compete for one id (Flink admits it once); an attempt that ended
    (aborted, failed) does not block the next one at Flink's duplicate-id check after the
    old job was already stopped.
    """
    for attempt in range(MAX_ATTEMPTS):
        candidate = successor_id(name, predecessor, attempt, lineage)
        if candidate not in ended:
            return candidate
    raise FlinkError("job %s: %d attempts to replace job %s ended without success; nothing was "
                     "changed. Start the job under a new name, or from savepoint_path after "
                     "cancelling job %s" % (name, MAX_ATTEMPTS, predecessor, predecessor))


def stop_trigger_id(predecessor, successor, attempt=0):
    """The trigger id of the stop that takes ``predecessor`` down for ``successor``.

    Flink remembers a stop's outcome under its trigger id for minutes: after a
    failed stop (the job ran on) the next run takes the next attempt's id, the
    same for every run, so runs that stop together still share one stop.
    """
    suffix = ":%d" % attempt if attempt else ""
    return _hex("flinkops-stop:%s:%s%s" % (predecessor, successor, suffix))


# CI systems, by the variable that names the running job best (a URL where they set one).
CI_JOB_VARIABLES = (
    ("CI_JOB_URL", "ci job %s"),  # GitLab
    ("BUILD_URL", "ci build %s"),  # Jenkins
    ("GITHUB_RUN_ID", "github run %s"),
    ("BUILDKITE_BUILD_URL", "ci build %s"),
    ("CIRCLE_BUILD_URL", "ci build %s"),
)


def actor(env=None):
    """Who acts: the AWX job (id and template) when run by AWX, a CI job, else user@host;
    behind FLINKOPS_ACTOR when a tool acts through the modules (the heal playbook says
    "flinkops.flink.heal, ci job ...").

    AWX sets JOB_ID (with INVENTORY_ID and AWX_HOST) in the environment; the job
    template's name and the launching user come only as extra variables, which the roles pass
    on as AWX_JOB_TEMPLATE_NAME and AWX_USER_NAME. Short, so it fits a record.
    """
    env = os.environ if env is None else env
    who = _who_runs(env)
    return ("%s, %s" % (env["FLINKOPS_ACTOR"], who) if env.get("FLINKOPS_ACTOR") else who)[:120]


def _who_runs(env):
    awx_id = env.get("AWX_JOB_ID") or env.get("tower_job_id") or env.get("TOWER_JOB_ID") or \
        (env.get("JOB_ID") if env.get("AWX_HOST") or env.get("INVENTORY_ID") else None)
    if awx_id:
        template = env.get("AWX_JOB_TEMPLATE_NAME") or env.get("tower_job_template_name") or ""
        user = env.get("AWX_USER_NAME")
        return ("awx job %s%s%s" % (awx_id, " (%s)" % template if template else "",
                                    " by %s" % user if user else ""))[:120]
    for variable, form in CI_JOB_VARIABLES:
        if env.get(variable):
            value = env[variable]
            if variable == "GITHUB_RUN_ID" and env.get("GITHUB_REPOSITORY"):
                value = "%s/%s" % (env["GITHUB_REPOSITORY"], value)
            return (form % value)[:120]
    try:
        user = getpass.getuser()
    except Exception:  # pylint: disable=broad-except
        user = "unknown"
    return ("%s@%s" % (user, socket.gethostname()))[:120]


# ---------------------------------------------------------------------------
# The record codec: a small JSON payload, compressed, in the names of entries.

def encode_payload(payload):
    data = base64.urlsafe_b64encode(zlib.compress(
        json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8"), 9)
    ).decode("ascii").rstrip("=")
    return [data[i:i + _CHUNK] for i in range(0, len(data), _CHUNK)] or [""]


def _decode(chunks):
    data = "".join(chunks)
    try:
        raw = zlib.decompress(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
        return json.loads(raw.decode("utf-8"))
    except (ValueError, zlib.error):
        return None


def assemble_records(jars, pattern, key_groups):
    """Group multi-entry records: {key: (payload, [entries sorted by index])}, complete ones only."""
    parts = {}
    for jar in jars:
        match = pattern.match(jar.get("name") or "")
        if match:
            groups = match.groups()
            key = tuple(groups[i] for i in key_groups)
            index, total, chunk = int(groups[-3]), int(groups[-2]), groups[-1]
            parts.setdefault(key + (total,), {})[index] = (chunk, jar)
    records = {}
    for key, chunks in parts.items():
        total = key[-1]
        if len(chunks) != total:
            continue
        entries = [chunks[i] for i in range(total)]
        payload = _decode([chunk for chunk, _jar in entries])
        if isinstance(payload, dict):
            records[key[:-1]] = (payload, [jar for _chunk, jar in entries])
    return records


class Intent:
    """A run's write-ahead claim on a successor id, read back from the JAR store."""

    def __init__(self, successor, payload, entries):
        self.successor = successor
        self.name = payload.get("n")
        self.fingerprint = payload.get("f")
        self.predecessor = payload.get("p")
        self.actor = payload.get("a")
        self.time = payload.get("t")
        self.ttl = payload.get("x") or 0
        self.nonce = payload.get("r")
        # Seconds the run may still spend after its submit (wait and health window).
        self.window = payload.get("w") or 0
        self.health_window = payload.get("h") or 0
        # Its run renews it (``_lease``): unrenewed past a lease, it is gone. Claims of older
        # releases do not say so and are judged by the job they replace (``abandoned``).
        self.leased = bool(payload.get("l"))
        self.entry_ids = [jar["id"] for jar in entries]
        # The JobManager's clock, shared by all runs: elections never compare two
        # machines' clocks.
        self.uploaded = entries[0].get("uploaded") or 0
        self.key = (self.uploaded, entries[0]["id"])
        # Its holder's renewals (``read_intents``): the newest stamp is its last sign of life.
        self.renewals = []
        self.renewed = self.uploaded

    def expired(self, now_ms):
        return self.uploaded + self.ttl * 1000 < now_ms

    def describe(self):
        return "%s since %s" % (self.actor or "an unknown run", utc(self.uploaded))

    def release_hint(self, store):
        """How long the claim holds, and how to release it when its run is known dead."""
        return ("its claim lasts until that run ends, at the latest until %s (a run killed "
                "with its claim is taken over sooner: a ZooKeeper store frees it with the run's "
                "session, any store once the run has not renewed it for %d s). If that run is "
                "known dead, delete %s from %s" % (
                    utc(self.uploaded + self.ttl * 1000), LEASE_MS // 1000,
                    "the entries %s" % ", ".join(self.entry_ids[:2]) + (
                        " ..." if len(self.entry_ids) > 2 else ""), store))


def intent_names(name, successor, fingerprint, predecessor, who, ttl, nonce, now=None,
                 window=0, health_window=0, leased=False):
    payload = {"n": name, "f": fingerprint, "p": predecessor or GENESIS, "a": who,
               "t": int(now if now is not None else time.time()), "x": int(ttl), "r": nonce,
               "w": int(window), "h": int(health_window)}
    if leased:
        payload["l"] = 1
    chunks = encode_payload(payload)
    return ["flinkops-intent-%s-%s-%d-%d-%s.jar" % (successor, nonce, i, len(chunks), chunk)
            for i, chunk in enumerate(chunks)]


def _intent_records(jars):
    """(well-formed, malformed) complete intent records: [(successor, payload, entries)]."""
    good, bad = [], []
    for (successor, _nonce), (payload, entries) in assemble_records(jars, _INTENT, (0, 1)).items():
        (good if conforms(payload, INTENT) else bad).append((successor, payload, entries))
    return good, bad


def malformed_intents(jars):
    """Entry names of intent records that decode but do not have an intent's shape."""
    return [entry.get("name") for _s, _p, entries in _intent_records(jars)[1] for entry in entries]


def renewal_name(successor, nonce, sequence):
    return "flinkops-renew-%s-%s-%d.jar" % (successor, nonce, sequence)


def _renewals(jars):
    """{(successor id, nonce): [renewal entries]} in the store."""
    found = {}
    for jar in jars:
        match = _RENEWAL.match(jar.get("name") or "")
        if match:
            found.setdefault((match.group(1), match.group(2)), []).append(jar)
    return found


def read_intents(jars):
    """{successor id: [Intent, earliest first]} of the complete, well-formed intents in the
    store, each with its holder's renewals."""
    found = {}
    renewals = _renewals(jars)
    for successor, payload, entries in _intent_records(jars)[0]:
        intent = Intent(successor, payload, entries)
        intent.renewals = renewals.get((successor, intent.nonce), [])
        intent.renewed = max([intent.uploaded] + [jar.get("uploaded") or 0 for jar in intent.renewals])
        found.setdefault(successor, []).append(intent)
    for intents in found.values():
        intents.sort(key=lambda intent: intent.key)
    return found


def confirmation_name(name, job_id, fingerprint):
    return "flinkops-run-%s-%s-%s.jar" % (name_hash(name), job_id, fingerprint)


def planned_name(name, job_id, fingerprint):
    return "flinkops-plan-%s-%s-%s.jar" % (name_hash(name), job_id, fingerprint)


def read_planned(jars, name=None):
    """{job id: set of fingerprints} of the submissions planned by runs that won their claim.

    Written before anything stops, while the store answers: it tells which spec a job runs
    even when its run died (or lost the store) before confirming it, and its claim is gone
    (a ZooKeeper claim goes with its run's session)."""
    found = {}
    for jar in jars:
        match = _PLANNED.match(jar.get("name") or "")
        if match and (name is None or match.group(1) == name_hash(name)):
            found.setdefault(match.group(2), set()).add(match.group(3))
    return found


def read_confirmations(jars, name=None):
    """{job id: fingerprint} of the submissions confirmed in the store (for one name)."""
    found = {}
    for jar in jars:
        match = _CONFIRM.match(jar.get("name") or "")
        if match and (name is None or match.group(1) == name_hash(name)):
            found[match.group(2)] = match.group(3)
    return found


# ---------------------------------------------------------------------------
# Decisions over what the cluster lists.

def stale_records(jars, name, keep_job_ids):
    """Entry ids of ``name``'s records nobody needs: confirmations of jobs Flink no longer
    lists (the operation log keeps their history), intents past their expiry, and renewals
    of claims no longer listed."""
    now_ms = max([jar.get("uploaded") or 0 for jar in jars] or [0])
    stale = [jar["id"] for jar in jars if _CONFIRM.match(jar.get("name") or "") and
             _CONFIRM.match(jar["name"]).group(1) == name_hash(name) and
             _CONFIRM.match(jar["name"]).group(2) not in keep_job_ids]
    confirmed = read_confirmations(jars, name)
    for jar in jars:
        match = _PLANNED.match(jar.get("name") or "")
        if match and match.group(1) == name_hash(name) and (
                match.group(2) in confirmed or (match.group(2) not in keep_job_ids and
                                                (jar.get("uploaded") or 0) + PLANNED_KEPT_MS < now_ms)):
            stale.append(jar["id"])
    intents = read_intents(jars)
    for listed in intents.values():
        for intent in listed:
            if intent.name == name and intent.expired(now_ms):
                stale.extend(intent.entry_ids)
                stale.extend(jar["id"] for jar in intent.renewals)
    claimed = set((i.successor, i.nonce) for listed in intents.values() for i in listed)
    for (successor, nonce), renewals in _renewals(jars).items():
        # Renewals name no job: their successor id tells whose; a claim removed before them
        # leaves them to whichever run prunes first (they hold nothing).
        if (successor, nonce) not in claimed and \
                all((jar.get("uploaded") or 0) + LEASE_MS < now_ms for jar in renewals):
            stale.extend(jar["id"] for jar in renewals)
    return stale


def predecessor_of(active, runs, operations):
    """The job a new deployment replaces: the active one; else the newest run Flink lists;
    else the newest job the operation log names; else GENESIS. Returns (job id, source)."""
    if active:
        return active["jid"], "active"
    if runs:
        newest = max(runs, key=lambda job: job.get("start-time") or 0)
        return newest["jid"], "overview"
    for entry in operations:
        if entry.get("job_id"):
            return entry["job_id"], "operation log"
    return GENESIS, "none"


def spec_of(job_id, confirmations, intents, legacy_fingerprints=(), planned=None):
    """The spec fingerprint job ``job_id`` runs, or None if unknown.

    Its confirmation; else the one spec its claims and planned submissions name; several
    make it unknown (treated as a different spec: an upgrade, never a false no-op). Job ids
    of older releases start with the fingerprint and stay recognised.
    """
    if job_id in confirmations:
        return confirmations[job_id]
    claims = set(intent.fingerprint for intent in intents.get(job_id, ()))
    claims |= (planned or {}).get(job_id, set())
    if len(claims) == 1:
        return claims.pop()
    if not claims and job_id and _LEGACY_JOB_ID.match(job_id) and \
            job_id[:16] in set(legacy_fingerprints):
        return job_id[:16]
    return None


def elect(intents, now_ms, strict=False):
    """The intent that may act: the earliest unexpired one (tie: the smallest entry id).

    ``strict``, where no fence stands behind the election (the converge claim): an intent
    acts only when it is the one listed; any two elect nobody (each backs off and tries
    again). Stamps cannot order claims there: the JAR store stamps an upload when its file
    is written, and Flink moves the file into the listed directory afterwards, so a rival may
    be listed later with an earlier stamp (two converges both went on, seen on Flink 2.3).
    Acting only alone holds whatever the stamps: two runs that each listed only their own
    intent each listed before the other's was visible, and both cannot be true."""
    live = [intent for intent in intents if not intent.expired(now_ms)]
    if not live or (strict and len(live) > 1):
        return None
    return min(live, key=lambda intent: intent.key)


def abandoned(intent, predecessor_job, successor_job, now_ms):
    """Whether a claim was left behind by a run that died (``now_ms``: the store's clock).

    A claim is a lease (``_lease``): its run renews it while it lives, however long its
    stop or its submit takes, so a claim renewed within the lease is never abandoned (a
    hung run that renews loses it only at its ttl: ``expired``). Past the lease it is
    abandoned when its run renews it (the claim says so, or was renewed): that run died or
    lost the store. A claim of an older release (neither) is abandoned when its
    successor runs past the window its run watches it (``deploying``); or once
    the predecessor it replaces has been ended for a lease, or Flink lists no such
    predecessor (a JobManager without HA restarted and forgot it). Taking over is safe in
    each case: the takeover submits the same successor id, which Flink admits once.
    """
    if intent.expired(now_ms):
        return True
    if fresh(intent.renewed, now_ms):
        return False
    if intent.leased or intent.renewals:
        return True
    if successor_job:
        return deploying(successor_job, {intent.successor: [intent]}) is None
    if predecessor_job is None and intent.predecessor not in (None, GENESIS):
        return True
    ended = (predecessor_job or {}).get("end-time") or -1
    return ended > 0 and not fresh(ended, now_ms)


def deploying(job, intents):
    """The live claim of the run that is deploying ``job`` (an active job) right now, or None.

    That run keeps its claim through its wait and health window; it is over once the
    job has run longer than that (on the JobManager's clock: start-time + duration).
    """
    claims = intents.get((job or {}).get("jid")) or []
    started = job.get("start-time") or 0
    now_ms = started + (job.get("duration") or 0)
    for intent in claims:
        if not intent.expired(now_ms) and started + (intent.window + 60) * 1000 > now_ms:
            return intent
    return None


def superseded_by(job_id, name, jobs, intents, lineage=""):
    """The successor id (or intent) of ``job_id`` if another run is replacing it, else None."""
    listed = set(job.get("jid") for job in jobs)
    for attempt in range(MAX_ATTEMPTS):
        successor = successor_id(name, job_id, attempt, lineage)
        if successor in listed:
            return successor, None
        claims = intents.get(successor) or []
        if claims:
            return successor, claims[0]
    return None


class DeploymentInProgress(FlinkError):
    """Another run holds the claim on this job name (``winner``)."""

    roll_back = False

    def __init__(self, msg, winner=None):
        self.winner = winner
        super().__init__(msg)


class Guard:
    """Claims, confirmations and the operation log of one job name.

    ``store`` needs ``jars()`` (the /jars list), ``write(name)`` (store an empty
    entry under that name, return its id) and ``delete(ids)``.
    """

    def __init__(self, store, name, who=None, warn=None, subject=None):
        self.store = store
        self.name = name
        self.subject = subject or "job %s" % name  # what the claim is on, for messages
        self.actor = who or actor()
        self.warn = warn or (lambda msg: None)
        self.intent = None
        self.taken_over = []  # abandoned claims this run removed: who else may act
        self.renewer = None
        self.renewal_consequence = "another deployment may take it over once it ends"

    def claim(self, successor, fingerprint, predecessor, ttl, jobs=(), window=0,
              health_window=0, strict=False, plan=True):
        """Write the intent, re-read, and keep it only if it wins the election.

        Returns our Intent; raises DeploymentInProgress naming the winner (or the rival
        of a tie, ``strict``). Claims abandoned by crashed runs (see ``abandoned``) are
        removed first. ``successor`` is what the claim is on: a job's successor id, or
        another key (the converge claim's cluster). ``plan``: write the planned-submission
        record of the successor once won (a job's claim). The claim says it is a lease:
        call ``keep_alive`` once it is won.
        """
        nonce = os.urandom(4).hex()
        for entry in intent_names(self.name, successor, fingerprint, predecessor, self.actor,
                                  ttl, nonce, window=window, health_window=health_window,
                                  leased=True):
            # Ephemeral where the store can tell a dead writer (a ZooKeeper session):
            # a killed run's claim is then freed by the store itself.
            self.store.write(entry, ephemeral=True)
        jars = self.store.jars()
        intents = read_intents(jars).get(successor, [])
        ours = next((i for i in intents if i.nonce == nonce), None)
        if ours is None:
            raise FlinkError("the intent record of %s was written but is not listed by "
                             "GET /jars; nothing was changed" % self.subject)
        now_ms = max(i.uploaded for i in intents)
        listed = next((job for job in jobs if job.get("jid") == successor), None)
        pred_job = next((job for job in jobs if job.get("jid") == predecessor), None)
        rivals = []
        for intent in intents:
            if intent is ours:
                continue
            if intent.key < ours.key and abandoned(intent, pred_job, listed, now_ms):
                self.drop(intent, "abandoned claim of %s" % intent.describe())
                self.taken_over.append(intent)
                continue
            rivals.append(intent)
        winner = elect(rivals + [ours], now_ms, strict)
        if winner is not ours:
            self.drop(ours, "our losing claim")
            # A strict tie elects nobody: name the earliest live rival.
            winner = winner or min((i for i in rivals if not i.expired(now_ms)), key=lambda i: i.key)
            raise DeploymentInProgress(
                "another deployment of job %s is in progress: %s (it replaces job %s); nothing "
                "was changed" % (self.name, winner.describe(), predecessor), winner)
        if plan:  # before anything stops, while the store answers: which spec the successor runs
            self.store.write(planned_name(self.name, successor, fingerprint))
        self.intent = ours
        return ours

    def keep_alive(self, open_records=None):
        """Renew our claim from a thread of its own until we let it go (``_lease``): however
        long our stop or submit takes, nobody takes the claim over as abandoned meanwhile.
        ``open_records()``: ``(records, close)`` the thread writes through (default: the
        store, through a connection of its own where it has one)."""
        if self.intent is None or self.renewer is not None:
            return
        intent = self.intent
        sequence = itertools.count(1)  # a new name each time: a store stamps only a new entry
        written = []  # our renewal entries' ids, the newest last

        def renew(records):
            written.append(records.write(renewal_name(intent.successor, intent.nonce, next(sequence)),
                                         ephemeral=True))
            if len(written) > 1:  # the newest stamp is all a reader needs
                records.delete(written[:-1])
                del written[:-1]

        self.renewer = Renewer(renew, open_records or (lambda: (renewal_thread_records(self.store), None)),
                               "the claim on %s" % self.subject, self.renewal_consequence)
        self.renewer.start()

    def _stop_renewing(self):
        if self.renewer is not None:
            self.renewer.stop()
            for warning in self.renewer.warnings:
                self.warn(warning)
            self.renewer = None

    def drop(self, intent, what):
        ours = intent is self.intent
        if ours:
            self._stop_renewing()
        try:
            # Our renewals too, read back once the renewing stopped (it wrote them).
            renewals = _renewals(self.store.jars()).get((intent.successor, intent.nonce), []) \
                if ours else intent.renewals
            self.store.delete(intent.entry_ids + [jar["id"] for jar in renewals])
        except FlinkError as exc:
            self.warn("could not remove %s (%s): %s" % (what, self.subject, exc))

    def confirm(self, job_id, fingerprint):
        """Record that ``job_id`` runs ``fingerprint``, then drop our intent (best effort)."""
        try:
            self.store.write(confirmation_name(self.name, job_id, fingerprint))
        except FlinkError as exc:
            self.warn("job %s runs, but its confirmation record could not be written: %s" % (
                job_id, exc))
            return
        if self.intent is not None:
            self.drop(self.intent, "the intent record")
            self.intent = None

    def release(self):
        """Give our claim up (nothing was stopped, or the run failed cleanly)."""
        if self.intent is not None:
            self.drop(self.intent, "the intent record")
            self.intent = None
