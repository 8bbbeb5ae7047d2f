# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""flink_jobs: an Event-Driven Ansible source that watches the jobs of a Flink cluster.

It polls the JobManager REST API through the collection's own client (same connection
options, TLS and redaction as the modules) and puts an event on the queue only when
something changed, each with a deterministic ``meta.uuid``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

DOCUMENTATION = r"""
---
short_description: Watch the jobs of a Flink cluster and emit an event when one changes
description:
  - An ansible-rulebook event source that polls a Flink JobManager's REST API every
    O(poll_interval) seconds and emits an event only when something changed.
  - Event kinds (C(event.flink.kind)) - V(job_state_changed), V(job_restarted) (Flink's
    C(numRestarts) rose), V(checkpoint_failed) (the failed checkpoint count rose),
    V(checkpoint_stale) (no completed checkpoint for O(checkpoint_stale_after) seconds),
    V(root_exception) (a new failure in Flink's exception history - its root cause, task and
    C(failure_labels)), V(managed_job_missing) (the records' operation log says the job should
    run, Flink lists no active run of it), V(slots_low) (fewer free task slots than
    O(slots_low_below)), V(cluster_unreachable) and V(cluster_reachable).
  - Every event carries a deterministic C(meta.uuid) derived from the cluster, the kind and the
    observed value, so a restarted activation that sees the same change again gives it the same id.
  - Connection options are those of the modules, with the same C(FLINK_*) environment fallbacks.
    Secrets (passwords, tokens, header values, credentials in the URL) never appear in events.
  - The args (with the environment's values) are checked at start against the JSON schema
    C(ARGS_SCHEMA) of this file; a wrong one stops the source with a message naming each wrong
    option, never its value. A number or a boolean may be given as text (a rulebook's Jinja gives text).
options:
  url:
    description: The JobManager REST URL. Falls back to E(FLINK_URL).
    type: str
    required: true
  url_username:
    description: Basic authentication user. Falls back to E(FLINK_USERNAME).
    type: str
  url_password:
    description: Basic authentication password. Falls back to E(FLINK_PASSWORD).
    type: str
  bearer_token:
    description: Bearer token. Falls back to E(FLINK_TOKEN).
    type: str
  headers:
    description: Extra HTTP headers (their values are treated as secrets).
    type: dict
  validate_certs:
    description: Verify the TLS certificate. Falls back to E(FLINK_VALIDATE_CERTS).
    type: bool
    default: true
  ca_path:
    description: CA bundle to verify the certificate with. Falls back to E(FLINK_CA_PATH).
    type: path
  client_cert:
    description: Client certificate for mutual TLS. Falls back to E(FLINK_CLIENT_CERT).
    type: path
  client_key:
    description: Key of O(client_cert). Falls back to E(FLINK_CLIENT_KEY).
    type: path
  request_timeout:
    description: Seconds per REST request.
    type: float
    default: 10
  state_store:
    description:
      - Where the collection's records are (see the modules' O(state_store)). Falls back to
        E(FLINK_STATE_STORE). Unset, the JobManager's JAR store is read.
    type: str
  records:
    description:
      - Read the records (spec fingerprints, the operation log) to report managed jobs and
        V(managed_job_missing). Costs one C(GET /jars) per poll on the JAR store.
    type: bool
    default: true
  jobs:
    description:
      - Job names to watch. Empty, every job the cluster lists, every job name that has spec
        records in the JAR store, and every managed job name an earlier poll of this activation
        found. A durable O(state_store) cannot list job names - name the jobs here for
        V(managed_job_missing) to see a job Flink no longer lists when the activation starts after
        it was lost.
    type: list
    elements: str
    default: []
  kinds:
    description: The event kinds to emit; empty, all.
    type: list
    elements: str
    default: []
  poll_interval:
    description: Seconds between two polls.
    type: float
    default: 10
  checkpoint_stale_after:
    description: Seconds without a completed checkpoint after which a running job is stale; V(0) turns it off.
    type: float
    default: 0
  slots_low_below:
    description:
      - Emit V(slots_low) while the cluster has fewer free task slots than this (one C(GET /overview)
        per poll); V(0) turns it off.
    type: int
    default: 0
  report_initial:
    description: Emit V(managed_job_missing) for jobs already missing at the first poll.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Watch a Flink cluster
  hosts: localhost
  sources:
    - flinkops.flink.flink_jobs:
        url: http://flink-jobmanager:8081
        jobs: [orders]
        poll_interval: 5
        checkpoint_stale_after: 600
  rules:
    - name: A managed job is gone
      condition: event.flink.kind == "managed_job_missing"
      action:
        run_playbook:
          name: flinkops.flink.heal
          extra_vars:
            flink_job_name: "{{ event.flink.name }}"
"""

LOGGER = logging.getLogger(__name__)


def _import_collection():
    """The collection's module_utils: the one client, the records, the watch logic.

    ansible-rulebook runs this file with runpy and does not put the collections directory on
    Python's path: the directory holding ``ansible_collections`` must be importable (a
    decision environment installs the collection there; else set PYTHONPATH to it)."""
    # pylint: disable=import-outside-toplevel
    try:
        from ansible_collections.flinkops.flink.plugins.module_utils import _client, _watch
        from ansible_collections.flinkops.flink.plugins.module_utils._records import _state
    except ImportError as exc:
        raise ImportError(
            "flinkops.flink.flink_jobs needs the collection importable as "
            "ansible_collections.flinkops.flink: set PYTHONPATH to the directory that holds "
            "ansible_collections/ (for example ~/.ansible/collections): %s" % exc) from exc
    return _client, _watch, _state


ENV = {"url": "FLINK_URL", "url_username": "FLINK_USERNAME", "url_password": "FLINK_PASSWORD",
       "bearer_token": "FLINK_TOKEN", "validate_certs": "FLINK_VALIDATE_CERTS",
       "ca_path": "FLINK_CA_PATH", "client_cert": "FLINK_CLIENT_CERT",
       "client_key": "FLINK_CLIENT_KEY", "state_store": "FLINK_STATE_STORE"}
DEFAULTS = {"validate_certs": True, "request_timeout": 10.0, "records": True, "jobs": [],
            "kinds": [], "poll_interval": 10.0, "checkpoint_stale_after": 0.0,
            "report_initial": True, "slots_low_below": 0}

# A rulebook's Jinja ("{{ flink_poll_interval | default(10) }}") and the FLINK_* environment give
# text: a number, a boolean or a list may come as its text form, checked by its pattern.
_NUMBER_TEXT = r"^\s*[0-9]+(\.[0-9]*)?\s*$"
_INTEGER_TEXT = r"^\s*[0-9]+\s*$"
_BOOLEAN_TEXT = r"^\s*([Tt]rue|[Ff]alse|TRUE|FALSE|[Yy]es|[Nn]o|YES|NO|[Oo]n|[Oo]ff|ON|OFF|[YyNn]|1|0)\s*$"
_TEXT = {"type": "string"}
_NAMES = {"type": ["array", "string"], "items": _TEXT}
# The JSON schema (draft 7) of the source's args, after the FLINK_* environment and the defaults
# are merged in; DOCUMENTATION's options are the same (a unit test holds them together).
ARGS_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "flinkops.flink.flink_jobs event source arguments",
    "type": "object",
    "properties": {
        "url": {"type": "string", "minLength": 1},
        "url_username": _TEXT,
        "url_password": _TEXT,
        "bearer_token": _TEXT,
        "headers": {"type": "object", "additionalProperties": _TEXT},
        "validate_certs": {"type": ["boolean", "string"], "pattern": _BOOLEAN_TEXT},
        "ca_path": _TEXT,
        "client_cert": _TEXT,
        "client_key": _TEXT,
        "request_timeout": {"type": ["number", "string"], "pattern": _NUMBER_TEXT, "exclusiveMinimum": 0},
        "state_store": _TEXT,
        "records": {"type": ["boolean", "string"], "pattern": _BOOLEAN_TEXT},
        "jobs": _NAMES,
        "kinds": _NAMES,
        "poll_interval": {"type": ["number", "string"], "pattern": _NUMBER_TEXT, "exclusiveMinimum": 0},
        "checkpoint_stale_after": {"type": ["number", "string"], "pattern": _NUMBER_TEXT, "minimum": 0},
        "slots_low_below": {"type": ["integer", "string"], "pattern": _INTEGER_TEXT, "minimum": 0},
        "report_initial": {"type": ["boolean", "string"], "pattern": _BOOLEAN_TEXT},
    },
    "required": ["url"],
    "additionalProperties": False,
    "not": {"required": ["bearer_token", "url_username"]},
}
# What a wrong value of each JSON type should have been, for the message (never the value).
_EXPECTED = {"boolean": "a boolean (true or false)", "number": "a number", "integer": "a whole number",
             "string": "text", "array": "a list of names (or one comma-separated text)",
             "object": "a mapping of header names to text values"}


def _wrong(error):
    """One schema violation as a sentence naming the option, never its value (it may be a secret)."""
    if error.validator == "additionalProperties":
        unknown = sorted(set(error.instance) - set(ARGS_SCHEMA["properties"]))
        return "unknown option(s) %s (known: %s)" % (", ".join(unknown), ", ".join(sorted(ARGS_SCHEMA["properties"])))
    if error.validator == "required":
        return "set url (or FLINK_URL)"
    if error.validator == "not":
        return "bearer_token and url_username are mutually exclusive"
    path = list(error.absolute_path)
    option = path[0] if path else "?"
    schema = ARGS_SCHEMA["properties"].get(option, {})
    if error.validator == "exclusiveMinimum":
        return "%s must be above %s" % (option, error.validator_value)
    if error.validator == "minimum":
        return "%s must be %s or more" % (option, error.validator_value)
    if error.validator == "minLength":
        return "set %s (it is empty)" % option
    if len(path) > 1:
        return "%s must hold only text (item %s is not)" % (option, path[1])
    types = schema.get("type", "string")
    # The type an option's text form stands for (a number's "5"), else text.
    wanted = ([t for t in ([types] if isinstance(types, str) else types) if t != "string"] or ["string"])[0]
    return "%s must be %s" % (option, _EXPECTED[wanted])


def validate_args(found):
    """Check ``found`` against ARGS_SCHEMA; raises ValueError naming every wrong option."""
    # pylint: disable=import-outside-toplevel
    import jsonschema  # ansible-rulebook's own dependency (it validates rulebooks with it)

    errors = sorted(jsonschema.Draft7Validator(ARGS_SCHEMA).iter_errors(found),
                    key=lambda error: [str(part) for part in error.absolute_path])
    if errors:
        raise ValueError("flinkops.flink.flink_jobs: %s" % "; ".join(
            sorted(set(_wrong(error) for error in errors))))


def _bool(value):
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on", "y")


def settings(args, env=None):
    """The source's options from its ``args``, the ``FLINK_*`` environment and defaults,
    checked against ARGS_SCHEMA; raises ValueError naming a wrong option (never its value)."""
    env = os.environ if env is None else env
    found = dict(DEFAULTS)
    for name, variable in ENV.items():
        if env.get(variable):
            found[name] = env[variable]
    found.update(dict((k, v) for k, v in (args or {}).items() if v is not None and k != "eda_feedback_queue"))
    validate_args(found)
    for name in ("validate_certs", "records", "report_initial"):
        found[name] = _bool(found[name])
    for name in ("poll_interval", "checkpoint_stale_after", "request_timeout"):
        found[name] = float(found[name])
    found["slots_low_below"] = int(found["slots_low_below"])
    for name in ("jobs", "kinds"):
        if isinstance(found[name], str):
            found[name] = [item.strip() for item in found[name].split(",") if item.strip()]
    # Again with the text forms turned into their values: a "0" text is a number below the minimum.
    validate_args(found)
    return found


def make_client(options, client_module):
    return client_module.FlinkClient(
        options["url"], url_username=options.get("url_username"),
        url_password=options.get("url_password"), bearer_token=options.get("bearer_token"),
        headers=options.get("headers"), validate_certs=options["validate_certs"],
        ca_path=options.get("ca_path"), client_cert=options.get("client_cert"),
        client_key=options.get("client_key"), timeout=options["request_timeout"], retries=1)


class Poller:
    """One cluster watched: a client, its records, a Watcher. ``poll()`` is synchronous."""

    def __init__(self, options, client=None):
        self.client_module, watch, self.state_module = _import_collection()
        self.watch = watch
        self.options = options
        self.client = client or make_client(options, self.client_module)
        unknown = sorted(set(options["kinds"]) - set(watch.KINDS))
        if unknown:
            raise ValueError("flinkops.flink.flink_jobs: unknown kind(s) %s (known: %s)" % (
                ", ".join(unknown), ", ".join(watch.KINDS)))
        self.watcher = watch.Watcher(self.client.public_base_url, options["kinds"],
                                     options["checkpoint_stale_after"], options["report_initial"],
                                     options["slots_low_below"])
        self.state = None
        # The managed job names seen so far: still watched when Flink no longer lists them.
        self.known = set()

    def _records(self):
        if not self.options["records"]:
            return None
        if self.state is None:
            self.state = self.state_module.open_state_store(
                self.options.get("state_store"), self.client, self.options["request_timeout"])
        return self.state

    def poll(self, now_ms=None):
        try:
            state = self._records()
        except Exception as exc:  # pylint: disable=broad-except
            LOGGER.warning("flink_jobs: the records cannot be read: %s",
                           self.client.redactor.text(str(exc)))
            state = None
        snapshot = self.watch.observe(self.client, self.options["jobs"], state, known=self.known,
                                      previous=self.watcher.jobs, slots=bool(self.options["slots_low_below"]))
        self.known.update(snapshot.get("managed") or ())
        if snapshot.get("records_error"):
            LOGGER.warning("flink_jobs: the records cannot be read: %s", snapshot["records_error"])
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        events = self.watcher.step(snapshot, now_ms)
        return [self.client.redactor.data(event) for event in events]

    def close(self):
        if self.state is not None:
            self.state.close()
            self.state = None


async def main(queue: asyncio.Queue, args: dict[str, Any]) -> None:
    """Poll the cluster every poll_interval seconds; put each new event on the queue."""
    poller = Poller(settings(args))
    try:
        while True:
            for event in await asyncio.get_running_loop().run_in_executor(None, poller.poll):
                await queue.put(event)
            await asyncio.sleep(poller.options["poll_interval"])
    finally:
        poller.close()


if __name__ == "__main__":
    # pylint: disable=too-few-public-methods

    class MockQueue:
        """Prints the events."""

        async def put(self, event):
            print(event)

    asyncio.run(main(MockQueue(), {"poll_interval": 5}))
