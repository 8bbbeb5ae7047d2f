# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""Converge a session cluster to a declared set of jobs: survey, plan, check, apply.

The steps, and why in this order:

1. Survey (reads only). Every declared job is run through the engine in check mode
   (``probe``): its answer says start, upgrade (with the spec diff, the state pre-check
   and the JAR checks) or no change, exactly as ``flink_job`` would decide. Every other
   active job is looked up in the records (``deployed_by_collection``): a job the
   collection deployed is *managed*, any other is *unmanaged* and never touched.
2. Plan (``make_plan``, pure): one entry per job, ``start``, ``upgrade``, ``prune``,
   ``unchanged``, ``unmanaged`` or ``adopt`` (a job submitted another way, taken over by
   name without a restart when its job graph matches the declared program's), with what
   differs and, for a prune, how and where the state goes.
3. Check (``plan_problems``, pure): an empty ``jobs`` list, more prunes than
   ``max_prune``, a probe that failed (a pre-check refusal, a missing JAR), a prune with
   a savepoint but no savepoint directory, or a target set that needs more slots than
   the cluster has: the run fails here, before the first change, naming all of it.
4. Apply (``apply_plan``, over a ``deploy`` callable): prunes and upgrades (which free
   slots) before starts (which need them), each job through the engine with its own
   ``DeployRequest`` (a prune with savepoint is the engine's stop path, so its savepoint
   is recorded and a job added back resumes from it). ``failure_policy`` says whether a
   failed job ends the run (later jobs untouched) or the others go on. Up to
   ``max_parallel`` jobs of one kind change at once, each thread with its own client and
   state store (``Connections``). A plan that changes something is carried out under the
   cluster's converge claim (``_cluster_claim``), and made again once claimed: another
   converge may have changed the cluster meanwhile. A plan that changes nothing writes nothing.

Steps 2-4 work on plain values (``Probe``, ``Running``, ``PlanEntry``), so the planner is
tested without Flink; ``Survey`` and ``deploy`` are the only parts that send requests.
"""

from __future__ import annotations

import threading
import time

from ansible_collections.flinkops.flink.plugins.module_utils._capacity import slots_needed
from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._cluster_claim import ClusterClaim
from ansible_collections.flinkops.flink.plugins.module_utils._engine import Engine
from ansible_collections.flinkops.flink.plugins.module_utils._guard import actor, confirmation_name
from ansible_collections.flinkops.flink.plugins.module_utils._deployment_lease import Replan
from ansible_collections.flinkops.flink.plugins.module_utils._identity import deployed_by_collection
from ansible_collections.flinkops.flink.plugins.module_utils._jobstate import (
    default_savepoint_dir,
    is_active,
    name_matches,
)
from ansible_collections.flinkops.flink.plugins.module_utils._migrate import legacy_records
from ansible_collections.flinkops.flink.plugins.module_utils._oplog import append_operation, read_operations
from ansible_collections.flinkops.flink.plugins.module_utils._precheck import plan_vertices
from ansible_collections.flinkops.flink.plugins.module_utils._request import Changes, DeployRequest, real
from ansible_collections.flinkops.flink.plugins.module_utils._rest import (
    cluster_overview,
    job_details,
    jobmanager_config,
    list_jars,
    list_jobs,
    plan_jar,
)
from ansible_collections.flinkops.flink.plugins.module_utils._spec import JobSpec
from ansible_collections.flinkops.flink.plugins.module_utils._store import find_upload, record_spec

START, UPGRADE, PRUNE, UNCHANGED, UNMANAGED = "start", "upgrade", "prune", "unchanged", "unmanaged"
ADOPT = "adopt"
# The engine's result action -> the plan's action.
ENGINE_ACTIONS = {"started": START, "resumed": START, "upgraded": UPGRADE, "rescaled": UPGRADE,
                  "none": UNCHANGED}
# A job's outcome action -> what the summary counts it as.
OUTCOMES = dict(ENGINE_ACTIONS, adopted=ADOPT)
# Apply order: what frees slots before what needs them (an adoption changes no job).
ORDER = (PRUNE, ADOPT, UPGRADE, START)
PRUNE_MODES = ("savepoint", "cancel", "none")


# ---------------------------------------------------------------------------
# Plain values

class Probe:
    """What a check-mode run of the engine said about one declared job.

    ``action``: the engine's (``started``, ``resumed``, ``upgraded``, ``rescaled``, ``none``);
    ``diff``: its before/after; ``current``: the id of the active job of the name (or None);
    ``managed``: whether the collection deployed that job; ``error``: why the engine refused
    (a FlinkError), or None; ``result``: the engine's result dict; ``slots``: slots it needs.
    """

    def __init__(self, name, action="none", diff=None, current=None, managed=True, error=None,
                 result=None, slots=1, actions=None, adopt=False, graph=None):
        self.name = name
        self.action = action
        self.diff = diff or {}
        self.current = current
        self.managed = managed
        self.error = error
        self.result = result or {}
        self.slots = slots
        self.actions = actions or []
        # Adoption (the name is in ``adopt``): the differences between the running job's graph
        # and the declared program's ([] = they match), or None when not compared.
        self.adopt = adopt
        self.graph = graph


class Running:
    """An active job that no declared entry matches."""

    def __init__(self, name, job_id, managed, slots=None):
        self.name = name
        self.job_id = job_id
        self.managed = managed
        self.slots = slots


class PlanEntry:
    """One line of the plan."""

    def __init__(self, name, action, differences=(), job_id=None, prune=None, state_to=None,
                 error=None, slots=0):
        self.name = name
        self.action = action
        self.differences = list(differences)
        self.job_id = job_id
        self.prune = prune  # savepoint | cancel | none, for a prune
        self.state_to = state_to  # where a prune's state goes
        self.error = error
        self.slots = slots

    @property
    def changes(self):
        """Whether carrying out this entry changes the cluster."""
        return self.action in (START, UPGRADE, ADOPT) or (self.action == PRUNE and self.prune != "none")

    def to_dict(self):
        entry = {"name": self.name, "action": self.action, "differences": self.differences}
        for key in ("job_id", "prune", "state_to", "error"):
            if getattr(self, key) is not None:
                entry[key] = getattr(self, key)
        return entry


# ---------------------------------------------------------------------------
# Plan and check (pure)

def _shown(value):
    return "(not set)" if value in (None, "", [], {}) else value


def differences(diff):
    """What differs between the running spec and the declared one, one text per field, from
    the engine's diff (``before``/``after`` spec dicts; secrets are sealed there already)."""
    before, after = (diff or {}).get("before") or {}, (diff or {}).get("after") or {}
    if before.get("note"):
        return ["the running job's spec is unknown (%s)" % before["note"]]
    if not before:
        return []
    found = []
    for field in JobSpec.FIELDS:
        if field == "configuration":
            old, new = before.get(field) or {}, after.get(field) or {}
            for key in sorted(set(old) | set(new)):
                if old.get(key) != new.get(key):
                    found.append("configuration %s: %s -> %s" % (key, _shown(old.get(key)),
                                                                 _shown(new.get(key))))
        elif before.get(field) != after.get(field):
            found.append("%s: %s -> %s" % (field, _shown(before.get(field)), _shown(after.get(field))))
    return found


def make_plan(probes, others, prune="savepoint", savepoint_dir=None):
    """The plan: one entry per declared job (in declared order), then one per other active
    job (by name). ``probes``: a Probe per declared job; ``others``: a Running per active
    job no declared entry matches."""
    plan = []
    for probe in probes:
        adoption = _adoption(probe)
        if adoption is not None:
            plan.append(adoption)
        elif probe.current and not probe.managed and not probe.adopt:
            plan.append(PlanEntry(probe.name, UNMANAGED, [
                "declared, but job %s of this name was not deployed by flinkops.flink: it is left "
                "untouched" % probe.current], job_id=probe.current, slots=probe.slots))
        elif probe.error is not None:
            plan.append(PlanEntry(probe.name, UPGRADE if probe.current else START,
                                  job_id=probe.current, error=probe.error.msg, slots=probe.slots))
        else:
            action = ENGINE_ACTIONS.get(probe.action, UPGRADE)
            found = differences(probe.diff) if action == UPGRADE else []
            if probe.adopt and probe.graph:
                found = ["adopt job %s: its job graph differs from the declared program's, so it "
                         "is upgraded (the previous version cannot be rolled back to)" % probe.current
                         ] + probe.graph
            if action == START:
                found = ["not running: start from %s" % (
                    probe.result.get("restored_from") or _start_origin(probe))]
            plan.append(PlanEntry(probe.name, action, found, job_id=probe.current,
                                  slots=probe.slots))
    for job in sorted(others, key=lambda job: (job.name, job.job_id)):
        if not job.managed:
            plan.append(PlanEntry(job.name, UNMANAGED, ["not declared and not deployed by "
                                                        "flinkops.flink: left untouched"],
                                  job_id=job.job_id, slots=job.slots or 0))
            continue
        how, state_to, text = _prune_how(prune, savepoint_dir)
        plan.append(PlanEntry(job.name, PRUNE, [text], job_id=job.job_id, prune=how,
                              state_to=state_to, slots=job.slots or 0))
    return plan


def _adoption(probe):
    """The entry of a job adopted by name whose graph matches (or is not compared yet), or None
    (then the job is planned like any other: a graph that differs means an upgrade)."""
    if not (probe.adopt and probe.current and not probe.managed):
        return None
    if probe.graph is None:
        text = ("adopt job %s (started another way) as this entry's running version without a "
                "restart if its job graph matches the declared program's; not compared yet (the JAR "
                "is not uploaded and check mode uploads nothing); if it differs, the job is upgraded"
                % probe.current)
    elif not probe.graph:
        text = ("adopt job %s (started another way) as this entry's running version without a "
                "restart: its job graph matches the declared program's; the arguments and "
                "configuration, which Flink does not show, are taken as declared" % probe.current)
    else:
        return None
    return PlanEntry(probe.name, ADOPT, [text], job_id=probe.current, slots=probe.slots)


def graph_differences(plan_answer, job):
    """How the declared program's job graph (a /jars/:jarid/plan answer) differs from a running
    job's (its /jobs/:id answer): vertices only in one of them, or of another parallelism."""
    declared = plan_vertices(plan_answer)
    running = dict((v.get("id"), v) for v in (job or {}).get("vertices") or [] if v.get("id"))
    found = []
    for vid in sorted(set(declared) | set(running)):
        if vid not in running:
            found.append("vertex %s (%s) only in the declared program" % (vid, declared[vid]["name"]))
        elif vid not in declared:
            found.append("vertex %s (%s) only in the running job" % (vid, running[vid].get("name")))
        elif declared[vid]["parallelism"] != running[vid].get("parallelism"):
            found.append("vertex %s (%s) parallelism: %s -> %s" % (
                vid, declared[vid]["name"], running[vid].get("parallelism"),
                declared[vid]["parallelism"]))
    return found


def _start_origin(probe):
    for action in probe.actions:
        if action.startswith("start job") and " from " in action:
            return action.split(" from ", 1)[1]
    return "empty state"


def _prune_how(prune, savepoint_dir):
    if prune == "savepoint":
        where = savepoint_dir or "(no savepoint directory configured)"
        return prune, where, ("not declared: stop with a savepoint to %s; the state is kept and "
                              "recorded, so declaring the job again resumes from it" % where)
    if prune == "cancel":
        return prune, "discarded", "not declared: cancel; its state is discarded"
    return "none", None, "not declared: left running (prune: none reports only)"


def plan_problems(plan, declared, max_prune, slots_total=None, savepoint_dir=None):
    """Why the plan must not be carried out (a list of texts, empty when it may), judged
    before anything changes. ``declared``: how many jobs the list declares."""
    found = []
    prunes = [entry for entry in plan if entry.action == PRUNE and entry.prune != "none"]
    if not declared:
        found.append("jobs is empty: converging to no jobs would prune every managed job%s; an "
                     "empty or truncated cluster file must not stop the cluster. Declare the jobs, "
                     "or stop a job with flinkops.flink.flink_job state=stopped" % (
                         " (%s)" % ", ".join(e.name for e in prunes) if prunes else ""))
    elif len(prunes) > max_prune:
        found.append("the plan prunes %d jobs (%s), more than max_prune (%d): a truncated cluster "
                     "file must not stop the cluster. Declare them again, or raise max_prune to "
                     "%d if they are to go" % (len(prunes), ", ".join(e.name for e in prunes),
                                               max_prune, len(prunes)))
    for entry in plan:
        if entry.error and entry.action != ADOPT:
            found.append("job %s (%s): %s" % (entry.name, entry.action, entry.error))
    if not savepoint_dir and any(entry.prune == "savepoint" for entry in prunes):
        found.append("prune: savepoint needs a savepoint directory and the cluster configures none "
                     "(execution.checkpointing.savepoint-dir, state.savepoints.dir on 1.x)")
    needed = slots_after(plan)
    if slots_total is not None and needed > slots_total:
        found.append("the target set needs %d task slots and the cluster has %d (%s)" % (
            needed, slots_total, ", ".join("%s: %d" % (e.name, e.slots) for e in plan
                                           if e.slots and _stays(e))))
    return found


def _stays(entry):
    """Whether the entry's job holds slots once the plan is carried out."""
    return entry.action != PRUNE or entry.prune == "none"


def slots_after(plan):
    """Task slots the jobs take once the plan is carried out."""
    return sum(entry.slots or 0 for entry in plan if _stays(entry))


def ordered(plan):
    """The entries that change something, in the order they are applied."""
    return [entry for action in ORDER for entry in plan if entry.action == action and entry.changes]


def apply_plan(plan, deploy, failure_policy="stop", max_parallel=1):
    """Carry the plan out: ``deploy(entry)`` returns the job's outcome (a dict) or raises
    FlinkError. Returns ({name: outcome}, [(entry, FlinkError)], [skipped entries]), the
    failures and skipped entries in apply order whatever order the jobs ended in.

    One phase per kind of change, in ``ORDER`` (what frees slots before what needs them): a
    phase's jobs run up to ``max_parallel`` at once (threads; each job's engine guards its own
    name), and a phase begins when the one before it has ended. With ``failure_policy`` stop,
    a failure lets the jobs already under way finish and starts no other."""
    outcomes, failed = {}, {}
    lock = threading.Lock()

    def attempt(entry):
        try:
            outcome = deploy(entry)
        except FlinkError as exc:
            with lock:
                failed[entry.name] = (entry, exc)
                outcomes[entry.name] = dict(getattr(exc, "job_outcome", None) or {}, failed=True,
                                            msg=exc.msg)
            return
        with lock:
            outcomes[entry.name] = outcome

    changing = ordered(plan)
    for action in ORDER:
        in_parallel([entry for entry in changing if entry.action == action], attempt, max_parallel,
                    go_on=lambda: not (failed and failure_policy == "stop"))
    failures = [failed[entry.name] for entry in changing if entry.name in failed]
    skipped = [entry for entry in changing if entry.name not in outcomes]
    for entry in skipped:
        outcomes[entry.name] = {"action": "none", "skipped": True, "msg": (
            "not attempted: job %s failed first (failure_policy: stop)" % failures[0][0].name)}
    return outcomes, failures, skipped


def summary(plan, outcomes=None):
    """The one line: ``1 upgraded, 1 started, 1 pruned (savepoint ...), 2 unchanged, 1 unmanaged``;
    before applying (``outcomes`` None), what the plan would do."""
    done = outcomes is not None
    parts = []
    words = {START: ("started", "to start"), UPGRADE: ("upgraded", "to upgrade"),
             ADOPT: ("adopted", "to adopt")}
    for action in (UPGRADE, START, ADOPT):
        if done:  # by what happened: an adoption whose graph differed was an upgrade
            count = len([e for e in plan if e.action in (START, UPGRADE, ADOPT) and
                         _succeeded(outcomes.get(e.name)) and
                         OUTCOMES.get(outcomes[e.name].get("action")) == action])
        else:
            count = len([e for e in plan if e.action == action])
        if count:
            parts.append("%d %s" % (count, words[action][0 if done else 1]))
    prunes = [e for e in plan if e.action == PRUNE]
    for how in PRUNE_MODES:
        entries = [e for e in prunes if e.prune == how and
                   (not done or how == "none" or _succeeded(outcomes.get(e.name)))]
        if not entries:
            continue
        if how == "savepoint":
            where = ", ".join(str((outcomes or {}).get(e.name, {}).get("savepoint") or e.state_to)
                              for e in entries)
            parts.append("%d %s (savepoint %s)" % (len(entries), "pruned" if done else "to prune",
                                                   where if done else "to %s" % where))
        elif how == "cancel":
            parts.append("%d %s (cancelled, state discarded)" % (
                len(entries), "pruned" if done else "to prune"))
        else:
            parts.append("%d not declared, left running (prune: none)" % len(entries))
    for action in (UNCHANGED, UNMANAGED):
        count = len([e for e in plan if e.action == action])
        if count:
            parts.append("%d %s" % (count, action))
    if done:
        failed = [e.name for e in plan if (outcomes.get(e.name) or {}).get("failed")]
        skipped = [e.name for e in plan if (outcomes.get(e.name) or {}).get("skipped")]
        if failed:
            parts.append("%d failed (%s)" % (len(failed), ", ".join(failed)))
        if skipped:
            parts.append("%d not attempted (%s)" % (len(skipped), ", ".join(skipped)))
    return ", ".join(parts) or "no jobs"


def _succeeded(outcome):
    return outcome is not None and not outcome.get("failed") and not outcome.get("skipped")


def failure_message(failures, skipped, line):
    """The run's failure, composed once: every failed job with its own message, what was not
    attempted, and what the run did."""
    text = "; ".join("job %s (%s) failed: %s" % (entry.name, entry.action, exc.msg)
                     for entry, exc in failures)
    if skipped:
        text += ". Not attempted (failure_policy: stop): %s" % ", ".join(e.name for e in skipped)
    return "%s. The converge did: %s" % (text, line)


# ---------------------------------------------------------------------------
# The requests

def deploy(client, request, changes, state):
    """One job through the engine, re-planned while another deployment of it ends (as
    flink_job does). Returns the engine; a FlinkError carries ``engine``."""
    deadline = time.monotonic() + request.concurrent_wait_timeout
    while True:
        engine = Engine(client, request, changes, state=state)
        try:
            engine.run()
            return engine
        except Replan as exc:
            if time.monotonic() < deadline:
                continue
            raise _with_engine(FlinkError("%s; still in progress after waiting %ss (concurrent_"
                                          "wait_timeout)" % (exc.msg, request.concurrent_wait_timeout)),
                               engine)
        except FlinkError as exc:
            raise _with_engine(exc, engine)


def _with_engine(exc, engine):
    exc.engine = engine
    return exc


def prune_request(entry):
    """The engine's request that prunes ``entry``: its stop path (with a savepoint, recorded,
    so a job declared again resumes from it) or a cancel."""
    return DeployRequest(name=entry.name, state="stopped",
                         stop_mode="cancel" if entry.prune == "cancel" else "savepoint")


def in_parallel(items, func, max_parallel, go_on=lambda: True):
    """``[func(item) for item in items]``, up to ``max_parallel`` calls at once (threads); an
    item is begun only while ``go_on()`` holds (None for those never begun). The first
    exception of any call stops the others beginning and is raised once all have ended (never
    lost in a thread)."""
    results, errors = [None] * len(items), []
    pending = list(enumerate(items))
    lock = threading.Lock()

    def work():
        while True:
            with lock:
                if not pending or errors or not go_on():
                    return
                index, item = pending.pop(0)
            try:
                results[index] = func(item)
            except Exception as exc:  # pylint: disable=broad-except  # re-raised below
                with lock:
                    errors.append(exc)
    workers = min(max_parallel, len(items))
    if workers <= 1:
        work()
    else:
        threads = [threading.Thread(target=work) for _worker in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    return results


class Survey:
    """The reads a plan needs, once per run."""

    def __init__(self, client, state):
        self.client = client
        self.state = state
        self._jars = None
        self._config = None

    @property
    def config(self):
        if self._config is None:
            self._config = jobmanager_config(self.client)
        return self._config

    def jar_list(self):
        if self._jars is None:
            self._jars = list_jars(self.client)
        return self._jars

    def probe(self, request, adopt=False):
        """The engine's check-mode answer for one declared job; for a job adopted by name that
        runs unmanaged, also how its graph differs from the declared program's."""
        changes = Changes(check_mode=True)
        engine = None
        try:
            engine = deploy(self.client, request, changes, self.state)
            error = None
        except FlinkError as exc:
            engine, error = getattr(exc, "engine", None), exc
        current = engine.current["jid"] if engine is not None and engine.current else None
        managed = True
        if current:
            managed = deployed_by_collection(self.records_of(request.name), request.name, current)
        result = engine.result.to_dict() if engine is not None else {}
        graph = None
        if adopt and current and not managed:
            graph = adoption_graph(Engine(self.client, request, Changes(check_mode=True),
                                          state=self.state), current)
        return Probe(request.name, action=engine.result.action if engine else "none",
                     diff=engine.result.diff if engine else None, current=current,
                     managed=managed, error=error, result=result,
                     slots=slots_needed(self.config, request), actions=changes.actions,
                     adopt=adopt, graph=graph)

    def records_of(self, name):
        return self.state.read_job(name, self.jar_list, legacy_records)

    def probe_all(self, requests, adopt, max_parallel=1, connections=None):
        """A Probe per request, in declared order; up to ``max_parallel`` at once, each thread
        with its own connection (``connections``) and survey."""
        config = self.config  # read once, here, for every thread

        def probe(request):
            survey = self
            if connections is not None:
                client, state = connections.get()
                if client is not self.client:
                    survey = Survey(client, state)
                    survey._config = config  # pylint: disable=protected-access
            return survey.probe(request, request.name in adopt)
        return in_parallel(requests, probe, max_parallel)

    def others(self, requests, prune="savepoint", jobs=None):
        """A Running per active job that no declared entry matches; the slots of those that
        keep running (unmanaged, or not pruned) are read (one request each)."""
        jobs = list_jobs(self.client) if jobs is None else jobs
        found = []
        for job in jobs:
            if not is_active(job) or any(name_matches(job, r.name, r.name_match) for r in requests):
                continue
            managed = deployed_by_collection(self.records_of(job["name"]), job["name"], job["jid"])
            stays = not managed or prune == "none"
            found.append(Running(job["name"], job["jid"], managed,
                                 self.slots_of(job["jid"]) if stays else None))
        return found

    def slots_of(self, job_id):
        """Slots a running job holds: its largest vertex parallelism (slot sharing)."""
        vertices = (job_details(self.client, job_id) or {}).get("vertices") or []
        return max([v.get("parallelism") or 1 for v in vertices] or [1])

    def slots_total(self):
        return int(cluster_overview(self.client).get("slots-total") or 0)

    def savepoint_dir(self):
        return default_savepoint_dir(self.config)


def adoption_graph(engine, job_id):
    """How job ``job_id``'s graph differs from the program ``engine`` would run ([]: it
    matches), or None when the JAR is not uploaded and ``engine`` is in check mode. Plans the
    program (``POST /jars/:jarid/plan``, which starts nothing); in check mode uploads nothing."""
    engine.survey()
    spec = engine.desired_spec()
    if engine.changes.check_mode:
        jar_id = engine.request.jar_id or find_upload(engine.jars, engine.jar_sha256)
        if not jar_id:
            return None
    else:
        jar_id = engine.resolve_jar_id()[0]
    engine.adopted = (spec, jar_id)
    answer = plan_jar(engine.client, jar_id, engine.body(spec, jar_id, None, None))
    return graph_differences(answer, job_details(engine.client, job_id))


def adopt_job(client, request, changes, state, job_id):
    """Record the running job ``job_id`` (started another way) as the running version of
    ``request``'s spec, without a restart, when its graph matches; returns the engine, or None
    when the graph differs (the job is then upgraded like any other)."""
    engine = Engine(client, request, changes, state=state)
    try:
        if adoption_graph(engine, job_id):
            return None
        if not engine.current or engine.current["jid"] != job_id:
            raise FlinkError("job %s is no longer the active job of %s; nothing was adopted (run "
                             "the converge again)" % (job_id, request.name))
        engine.check_records_durable()
        spec, jar_id = engine.adopted
        changes.do("adopt job %s as the running version of %s (spec %s)" % (
            job_id, request.name, spec.fingerprint), record_adoption, engine, spec, jar_id, job_id)
    except FlinkError as exc:
        raise _with_engine(exc, engine)
    engine.result.update(job_id=job_id, job=engine.current, action="adopted")
    return engine


def record_adoption(engine, spec, jar_id, job_id):
    """The records a deployment of ``spec`` as job ``job_id`` would have left: the spec record,
    the confirmation (which spec the job runs) and the operation log's entry."""
    name = engine.request.name
    record_spec(engine.record_store, spec, jar_id, engine.records)
    engine.record_store.write(confirmation_name(name, job_id, spec.fingerprint))
    append_operation(engine.record_store, name, "adopted", actor(), engine.result.warnings.append,
                     job_id=job_id, fingerprint=spec.fingerprint,
                     logged=read_operations(engine.records, name))


def outcome_of(engine, changes):
    """A job's outcome as flink_job returns it."""
    outcome = engine.result.to_dict()
    outcome.update(changed=changes.changed, actions=list(changes.actions))
    return outcome


def real_values(value):
    """``value`` with every Planned value (check mode) replaced by None."""
    if isinstance(value, dict):
        return dict((k, real_values(v)) for k, v in value.items())
    if isinstance(value, list):
        return [real_values(v) for v in value]
    return real(value)


# ---------------------------------------------------------------------------
# One converge run

def converge(client, state, requests, changes, warn, prune="savepoint", max_prune=1,
             failure_policy="stop", adopt=(), max_parallel=1, connect=None, wait=600):
    """Survey, plan, check, and (outside check mode) apply. ``changes`` is the run's record
    (check mode, every job's actions, changed); ``warn(text)`` passes a warning on.
    ``connect()`` opens another (client, state store) of the same options: each thread that
    changes jobs at the same time as others (``max_parallel``) has its own.

    A plan that changes something is carried out under the cluster's converge claim
    (``_cluster_claim``; waiting up to ``wait`` seconds for another converge to end) and made
    again once claimed, from what runs then. A plan that changes nothing writes nothing.

    Returns ``(result, failure)``: the result (``plan``, ``jobs``, ``summary``, ``diff``) and,
    when the plan was refused or a job failed, the failure message (composed once)."""
    connections = Connections(client, state, connect if max_parallel > 1 else None)
    options = dict(prune=prune, max_prune=max_prune, failure_policy=failure_policy, adopt=adopt,
                   max_parallel=max_parallel, connections=connections)
    cluster_claim = ClusterClaim(state, actor(), connect)

    def claim():
        """Claim the cluster; whether the plan must be made again (what runs has changed)."""
        cluster_claim.acquire(wait)
        if cluster_claim.waited_for is not None:
            warn("waited for another converge of this cluster to end (%s), then planned again "
                 "from what runs since" % cluster_claim.waited_for.actor)
            return True
        return False

    try:
        return _converge(client, state, requests, changes, warn,
                         claim=None if changes.check_mode else claim, **options)
    finally:
        connections.close()
        cluster_claim.release()
        for warning in cluster_claim.warnings:
            warn(warning)


def active_ids(jobs):
    return sorted(job["jid"] for job in jobs if is_active(job))


def _converge(client, state, requests, changes, warn, prune, max_prune, failure_policy, adopt,
              max_parallel, connections, claim=None):
    survey = Survey(client, state)
    jobs = list_jobs(client)  # before the probes: a change after it shows in active_ids
    probes = survey.probe_all(requests, adopt, max_parallel, connections)
    others = survey.others(requests, prune, jobs)
    savepoint_dir = survey.savepoint_dir()
    plan = make_plan(probes, others, prune, savepoint_dir)
    result = {"plan": [entry.to_dict() for entry in plan],
              "diff": plan_diff(plan, dict((p.name, p) for p in probes))}
    problems = plan_problems(plan, len(requests), max_prune, survey.slots_total(), savepoint_dir)
    planned = dict((p.name, dict(real_values(p.result), actions=p.actions)) for p in probes)
    if problems:
        result.update(jobs=_job_list(plan, planned, True), summary=summary(plan))
        return result, "the plan cannot be carried out, nothing was changed: %s" % "; ".join(problems)
    if changes.check_mode:
        probed = dict((p.name, p) for p in probes)
        for entry in ordered(plan):
            for action in _planned_actions(entry, probed.get(entry.name)):
                changes.do("job %s: %s" % (entry.name, action))
        result.update(jobs=_job_list(plan, planned, True), summary=summary(plan))
        return result, None
    # Claimed, the plan is made again when another converge ran meanwhile (what runs changed);
    # either way each job's engine decides again from what it finds when it acts.
    if claim is not None and ordered(plan) and (claim() or active_ids(list_jobs(client)) != active_ids(jobs)):
        return _converge(client, state, requests, changes, warn, prune, max_prune, failure_policy,
                         adopt, max_parallel, connections)
    by_name = dict((request.name, request) for request in requests)
    done = {}  # name -> (the job's Changes, its engine), recorded in apply order afterwards

    def run_entry(entry):
        request = prune_request(entry) if entry.action == PRUNE else by_name[entry.name]
        job_changes = Changes(check_mode=False)
        job_client, job_state = connections.get()
        engine = None
        try:
            engine = adopt_job(job_client, request, job_changes, job_state, entry.job_id) \
                if entry.action == ADOPT else None
            engine = engine or deploy(job_client, request, job_changes, job_state)
        except FlinkError as exc:
            engine = getattr(exc, "engine", None)
            if engine is not None:
                exc.job_outcome = outcome_of(engine, job_changes)
            raise
        finally:
            done[entry.name] = (job_changes, engine)
        return outcome_of(engine, job_changes)

    try:
        if max_parallel > 1:
            share_uploads(client, state, ordered(plan), by_name, changes)
        outcomes, failures, skipped = apply_plan(plan, run_entry, failure_policy, max_parallel)
    finally:
        for entry in ordered(plan):
            if entry.name in done:
                _record(changes, entry, *done[entry.name], warn=warn)
    for name, outcome in planned.items():
        outcomes.setdefault(name, outcome)
    line = summary(plan, outcomes)
    result.update(jobs=_job_list(plan, outcomes, False), summary=line)
    return result, (failure_message(failures, skipped, line) if failures else None)


class Connections:
    """The (client, state store) of each thread that applies the plan: the run's own for the
    thread that made it, a new one per other thread (``connect()``; None: every thread uses the
    run's own), closed at the end."""

    def __init__(self, client, state, connect=None):
        self.own = threading.current_thread()
        self.default = (client, state)
        self.connect = connect
        self.local = threading.local()
        self.opened = []
        self.lock = threading.Lock()

    def get(self):
        if self.connect is None or threading.current_thread() is self.own:
            return self.default
        if getattr(self.local, "connection", None) is None:
            self.local.connection = self.connect()
            with self.lock:
                self.opened.append(self.local.connection)
        return self.local.connection

    def close(self):
        for _client, state in self.opened:
            state.close()


def share_uploads(client, state, entries, by_name, changes):
    """Upload once, before jobs change at the same time, each JAR that several of them run and
    the cluster does not hold yet (their engines would each upload it at once otherwise)."""
    paths = {}
    for entry in entries:
        request = by_name.get(entry.name)
        if entry.action in (UPGRADE, START) and request is not None and request.jar_path:
            paths.setdefault(request.jar_path, []).append(request)
    for requests in paths.values():
        if len(requests) < 2:
            continue
        engine = Engine(client, requests[0], changes, state=state)
        engine.survey()
        engine.desired_spec()  # the JAR's content hash, which names its upload
        engine.resolve_jar_id()


def _planned_actions(entry, probe):
    """What carrying ``entry`` out would do, as the engine's check mode says it."""
    if entry.action == PRUNE:
        return ["cancel job %s (its state is discarded)" % entry.job_id if entry.prune == "cancel" else
                "stop job %s with a savepoint to %s" % (entry.job_id, entry.state_to)]
    if entry.action == ADOPT:
        return ["adopt job %s as the running version of %s" % (entry.job_id, entry.name)]
    return probe.actions or ["%s %s" % (entry.action, entry.name)]


def _record(changes, entry, job_changes, engine, warn):
    """Pass a job's actions, change and warnings on to the run's (in apply order)."""
    changes.actions.extend("job %s: %s" % (entry.name, action) for action in job_changes.actions)
    changes.changed = changes.changed or job_changes.changed
    for warning in engine.warnings if engine is not None else ():
        warn("job %s: %s" % (entry.name, warning))


def _job_list(plan, outcomes, planned):
    """Every job's outcome, in plan order: the engine's for a declared or pruned job, the job
    id for an unmanaged one."""
    jobs = []
    for entry in plan:
        outcome = outcomes.get(entry.name)
        if outcome is None or entry.action == UNMANAGED:
            outcome = {"action": "none", "job_id": entry.job_id}
            if entry.action == PRUNE and planned and entry.prune != "none":
                outcome = {"action": "cancelled" if entry.prune == "cancel" else "stopped",
                           "previous_job_id": entry.job_id, "job_id": None}
        jobs.append(dict(real_values(outcome), name=entry.name))
    return jobs


def plan_diff(plan, probes):
    """Ansible's diff: the plan as text, then per changed job its before and after."""
    lines = ["%s %s%s" % (entry.action, entry.name, "".join(
        "\n    %s" % text for text in entry.differences + ([entry.error] if entry.error else [])))
        for entry in plan]
    found = [{"prepared": "\n".join(lines) + "\n"}]
    for entry in plan:
        if not entry.changes:
            continue
        if entry.action == PRUNE:
            before = {"running": True, "job_id": entry.job_id}
            after = {"running": entry.prune == "none", "prune": entry.prune, "state_to": entry.state_to}
        else:
            diff = probes[entry.name].diff or {}
            before, after = diff.get("before") or {"running": False}, diff.get("after") or {}
        found.append({"before_header": "job %s" % entry.name, "after_header": "job %s" % entry.name,
                      "before": real_values(before), "after": real_values(after)})
    return found
