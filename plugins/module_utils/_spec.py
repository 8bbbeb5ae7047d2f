# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""Desired versus actual: job specs, their fingerprints, and diffs.

Flink never echoes back a job's JAR or arguments, but it honours a job id
chosen by the client and never accepts one twice. A job id that starts with the
spec's fingerprint therefore lets a module recognise its own submission from
``/jobs/overview`` alone, with no state kept outside Flink.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import zlib

FINGERPRINT_CHARS = 16
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
_JAR_SHA_IN_NAME = re.compile(r"-sha256-([0-9a-f]{16})\.jar$")


def sha256_file(path, chunk_size=1024 * 1024):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def jar_stem(name):
    """The name part a JAR is uploaded under (before its content hash)."""
    stem = os.path.basename(name or "")
    if stem.lower().endswith(".jar"):
        stem = stem[:-4]
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:80] or "job"


def jar_sha_prefix(name):
    """The sha256 prefix encoded in an uploaded JAR's name, or None."""
    match = _JAR_SHA_IN_NAME.search(name or "")
    return match.group(1) if match else None


class JobSpec:
    """What a job runs: its name, the JAR's content, entry class, arguments, parallelism,
    configuration.

    Restore options (savepoint path, allow_non_restored_state) are not part of
    the spec: they say how to start, not what runs.
    """

    FIELDS = ("name", "jar", "entry_class", "args", "parallelism", "configuration")

    def __init__(self, name, jar, entry_class=None, args=None, parallelism=None,
                 configuration=None):
        self.name = name
        self.jar = jar
        self.entry_class = entry_class
        self.args = list(args or [])
        self.parallelism = parallelism
        self.configuration = dict((str(k), str(v)) for k, v in (configuration or {}).items())

    def to_dict(self):
        return dict((field, getattr(self, field)) for field in self.FIELDS)

    @property
    def fingerprint(self):
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:FINGERPRINT_CHARS]

    def new_job_id(self):
        """A fresh job id carrying this spec's fingerprint; never reused by Flink."""
        return self.fingerprint + os.urandom(FINGERPRINT_CHARS // 2).hex()

    def describes(self, job_id):
        return fingerprint_of(job_id) == self.fingerprint


def fingerprint_of(job_id):
    """The spec fingerprint inside a job id this collection chose (or of any job id)."""
    if not job_id or not _JOB_ID.match(job_id):
        return None
    return job_id[:FINGERPRINT_CHARS]


def spec_diff(before, after):
    """Ansible's diff structure: whole before and after, so the renderer shows what differs."""
    return {"before": before or {}, "after": after or {}}


# Spec records: Flink keeps no copy of a job's arguments, yet a rollback needs
# them. Each submitted spec is recorded as the *name* of a tiny entry in the
# cluster's JAR store (the only place the REST API lets a client write and read
# back), split over several entries when long. Names stay under the 218
# characters Flink's upload directory allows after its uuid prefix.
SPEC_RECORD_PREFIX = "flinkops-spec-"
_SPEC_RECORD = re.compile(r"^flinkops-spec-([0-9a-f]{16})-(\d+)-(\d+)-([A-Za-z0-9_-]*)\.jar$")
_CHUNK = 160
# The smallest valid ZIP (an empty end-of-central-directory record).
EMPTY_ZIP = b"PK\x05\x06" + b"\x00" * 18


def spec_record_names(spec, jar_id):
    """The JAR-store names recording ``spec`` (and the jar id it ran)."""
    payload = dict(spec.to_dict(), jar_id=jar_id)
    data = base64.urlsafe_b64encode(zlib.compress(
        json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8"), 9)
    ).decode("ascii").rstrip("=")
    chunks = [data[i:i + _CHUNK] for i in range(0, len(data), _CHUNK)] or [""]
    return ["%s%s-%d-%d-%s.jar" % (SPEC_RECORD_PREFIX, spec.fingerprint, index, len(chunks), chunk)
            for index, chunk in enumerate(chunks)]


def read_spec_records(jar_names):
    """Decode every complete spec record among JAR names: {fingerprint: spec dict}."""
    parts = {}
    for name in jar_names:
        match = _SPEC_RECORD.match(name or "")
        if match:
            fingerprint, index, total, chunk = match.groups()
            parts.setdefault((fingerprint, int(total)), {})[int(index)] = chunk
    records = {}
    for (fingerprint, total), chunks in parts.items():
        if len(chunks) != total:
            continue
        data = "".join(chunks[i] for i in range(total))
        try:
            raw = zlib.decompress(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
            records[fingerprint] = json.loads(raw.decode("utf-8"))
        except (ValueError, zlib.error):
            continue
    return records


def is_spec_record(name):
    return bool(_SPEC_RECORD.match(name or ""))


def stale_spec_records(jars, job_name, keep_fingerprints):
    """Ids of the JAR-store entries recording specs of ``job_name`` that are not kept."""
    records = read_spec_records(jar.get("name") for jar in jars)
    stale = []
    for jar in jars:
        match = _SPEC_RECORD.match(jar.get("name") or "")
        if not match:
            continue
        fingerprint = match.group(1)
        record = records.get(fingerprint)
        if record and record.get("name") == job_name and fingerprint not in keep_fingerprints:
            stale.append(jar["id"])
    return stale
