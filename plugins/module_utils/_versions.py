# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""The versions of a job: the specs applied to its name over time, numbered 1, 2, 3... in the
order first applied, read from the records alone (the operation log and the spec records), so
they read the same through any JobManager of a cluster with a durable store.

A version's number is written into each log entry that applies it (``version``), so it stays
the same after the log drops its oldest entries; entries written before numbers were recorded
are numbered by the order they were logged in. ``version_request`` turns "deploy version N"
into the plain request the engine takes, before the engine starts.
"""

from __future__ import annotations

import dataclasses

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._oplog import VERSION_ACTIONS, version_numbers
from ansible_collections.flinkops.flink.plugins.module_utils._sealed import SecretMismatch, salt_of
from ansible_collections.flinkops.flink.plugins.module_utils._spec import JobSpec
from ansible_collections.flinkops.flink.plugins.module_utils._store import (
    JAR_SHA_CHARS,
    local_jar,
    spec_records,
    stem_of,
    upload_of,
)

# Spec records of the newest VERSIONS_KEPT versions are kept even when Flink lists no run of
# them (it forgets ended jobs after about an hour, and all of them on a JobManager restart), so
# the last few releases can be returned to by number. Five covers the usual "back one or two
# releases" while each record stays a few entries in the store (or the JAR list, which every
# run reads). Older versions stay listed from the log, with no spec.
VERSIONS_KEPT = 5
# The options a recorded version fixes; giving one with it asks for two specs at once.
FIXED_BY_VERSION = ("jar_id", "jar_name", "entry_class", "parallelism")
# The options that may carry the clear secret values of a version recorded with sealed ones.
SECRET_CARRIERS = ("args", "configuration", "secret_args")


def kept_fingerprints(operations, keep=VERSIONS_KEPT):
    """The fingerprints of the newest ``keep`` versions, whose spec records are kept."""
    numbers = version_numbers(operations)
    return set(sorted(numbers, key=numbers.get, reverse=True)[:keep])


def _upload_name(jar_id):
    """The name an upload was made under: Flink's jar id is ``<uuid>_<name>``."""
    return jar_id.split("_", 1)[-1] if jar_id else None


def content_hash(record):
    """The recorded content hash of a spec record's JAR (the first 16 hex of its sha256), or
    None when the spec names an upload without one."""
    jar = (record or {}).get("jar") or ""
    return jar[len("sha256:"):] if jar.startswith("sha256:") else None


def list_versions(operations, entries, jars):
    """The versions of a job, oldest first: number, fingerprint, spec (its record, as
    ``flink_job_info``'s ``recorded_spec``; None once pruned), the JAR's content hash and upload
    name, when first and last applied and by whom, the newest logged outcome, and the upload of
    its JAR Flink lists now (``jars``; None when it must be uploaded again)."""
    numbers = version_numbers(operations)
    records = spec_records(entries)
    found = []
    for fingerprint, number in sorted(numbers.items(), key=lambda item: item[1]):
        # Numbered from these entries: never empty.
        applied = [entry for entry in operations
                   if entry.get("fingerprint") == fingerprint and entry.get("action") in VERSION_ACTIONS]
        newest = next(entry for entry in operations if entry.get("fingerprint") == fingerprint)
        # The name is part of the fingerprint: a record of it is this job's.
        record = records.get(fingerprint)
        on_cluster = upload_of(jars, record) if record else None
        found.append(dict(
            version=number, fingerprint=fingerprint,
            spec=dict(record, jar_on_cluster=on_cluster) if record else None,
            jar_sha256=content_hash(record), jar_upload=_upload_name((record or {}).get("jar_id")),
            first_applied=applied[-1].get("time"), last_applied=applied[0].get("time"),
            actor=applied[0].get("actor"),
            outcome=newest.get("action"), jar_on_cluster=on_cluster))
    return found


def version_request(request, version, versions, given):
    """``request`` (a DeployRequest of job ``request.name`` asking for ``version``) as the plain
    request for that recorded version's spec; ``versions``: ``list_versions``; ``given``: the
    option names the user set. Raises FlinkError, before anything changed, when the version
    cannot be deployed by number."""
    name = request.name
    chosen = next((v for v in versions if v["version"] == version), None)
    if chosen is None:
        listed = ", ".join(str(v["version"]) for v in versions)
        raise FlinkError(
            "job %s has no recorded version %d (%s): flink_job_info lists a job's versions with "
            "their specs; nothing was changed" % (
                name, version, "its recorded versions: %s" % listed if listed else
                "no version of it is recorded"))
    record = chosen["spec"]
    if record is None:
        raise FlinkError(
            "version %d of job %s is in the operation log, but its spec record was pruned (the "
            "records keep the specs of the newest %d versions and of the runs Flink lists): "
            "deploy it with jar, entry_class, args, parallelism and configuration as before; "
            "nothing was changed" % (version, name, VERSIONS_KEPT))
    sealed = bool(salt_of(record))
    conflicting = [option for option in FIXED_BY_VERSION + (() if sealed else SECRET_CARRIERS)
                   if option in given]
    if conflicting:
        raise FlinkError(
            "version cannot be combined with %s: version %d of job %s is a recorded spec. Give "
            "jar only to supply its JAR file when the JobManager lost it%s; nothing was changed"
            % (", ".join(conflicting), version, name,
               "" if sealed else " (args, configuration and secret_args only for a version "
               "recorded with secret values)"))
    if not sealed:
        clear = JobSpec.from_record(record)
    else:
        try:
            clear = JobSpec.from_record(record, JobSpec(
                name, record["jar"], args=request.args, configuration=request.configuration,
                secret_args=request.secret_args))
        except SecretMismatch as exc:
            raise FlinkError(
                "version %d of job %s was deployed with secret values, recorded only as hashes: "
                "give them again in args (and configuration), with secret_args naming them, as "
                "when it was deployed. %s; nothing was changed" % (version, name, exc.msg))
    jar = _program(request, version, chosen, record)
    return dataclasses.replace(
        request, entry_class=clear.entry_class, args=clear.args, parallelism=clear.parallelism,
        configuration=clear.configuration, secret_args=request.secret_args if sealed else [],
        secret_salt=clear.salt, **jar)


def _program(request, version, chosen, record):
    """The request's program fields for the recorded version: the file the user gave (when
    its content is the recorded one), else the upload Flink still lists."""
    name, recorded = request.name, content_hash(record)
    if request.jar_path:
        if recorded is None:
            raise FlinkError(
                "version %d of job %s ran the upload %s, whose content hash is not recorded: a "
                "JAR file cannot be checked against it; deploy it with jar and the options as "
                "before; nothing was changed" % (version, name, record.get("jar_id")))
        sha256 = local_jar(request.jar_path)
        if sha256[:JAR_SHA_CHARS] != recorded:
            raise FlinkError(
                "JAR file %s is not the program of version %d of job %s: its sha256 is %s, the "
                "recorded content hash is sha256:%s (the first %d hex digits); give the JAR that "
                "version ran; nothing was changed" % (
                    request.jar_path, version, name, sha256, recorded, JAR_SHA_CHARS))
        stem = stem_of(chosen["jar_upload"])
        return dict(jar_path=request.jar_path, jar_id=None, jar_name=stem or request.jar_name)
    if chosen["jar_on_cluster"]:
        return dict(jar_id=chosen["jar_on_cluster"], jar_path=None)
    raise FlinkError(
        "the JAR of version %d of job %s (sha256:%s, uploaded as %s) is not on the JobManager "
        "any more (restarted with an empty upload directory, or deleted): give that JAR file as "
        "jar, it is checked against the recorded hash; nothing was changed" % (
            version, name, recorded or "not recorded", chosen["jar_upload"]))
