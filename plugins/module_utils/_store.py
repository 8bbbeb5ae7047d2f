# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""The cluster's JAR store as the collection's only storage: JARs, spec records, job ids.

Flink's REST API lets a client write and read back exactly one thing: the
names of uploaded JARs. This file owns every name written there:

- uploaded programs: ``<stem>-sha256-<16 hex>.jar`` (content-addressed, so a
  JAR is uploaded once per content and found again without a checksum API);
- spec records: ``flinkops-spec-<fingerprint>-<i>-<n>-<data>.jar``, tiny
  empty ZIPs whose names hold a job's spec (one codec: JSON, zlib, base64url);

and the job-id scheme that ties a job to its spec record: ``new_job_id(spec)``
allocates a job id for a submission. Which spec a job runs is ``_identity``'s
answer (from these records and the guard's).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import zlib

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._records._schema import SPEC, conforms
from ansible_collections.flinkops.flink.plugins.module_utils._rest import upload_jar
from ansible_collections.flinkops.flink.plugins.module_utils._spec import (
    FINGERPRINT_CHARS,
    sha256_file,
)

# ---------------------------------------------------------------------------
# JAR names

JAR_SHA_CHARS = 16
_JAR_SHA_IN_NAME = re.compile(r"-sha256-([0-9a-f]{16})\.jar$")


def jar_stem(name):
    """The name part a JAR is uploaded under (before its content hash)."""
    stem = os.path.basename(name or "")
    if stem.lower().endswith(".jar"):
        stem = stem[:-4]
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:80] or "job"


def jar_upload_name(stem, sha256):
    """The name a JAR of this content is uploaded under."""
    return "%s-sha256-%s.jar" % (stem, sha256[:JAR_SHA_CHARS])


def jar_sha_prefix(name):
    """The sha256 prefix encoded in an uploaded JAR's name, or None."""
    match = _JAR_SHA_IN_NAME.search(name or "")
    return match.group(1) if match else None


def stem_of(name):
    """The stem of an uploaded JAR's name, or None if it is not one of ours."""
    if not jar_sha_prefix(name):
        return None
    return name.rsplit("-sha256-", 1)[0]


def content_key(sha256):
    """How a spec names a program by its content."""
    return "sha256:" + sha256[:JAR_SHA_CHARS]


def jar_key(name):
    """How a spec names the program of an uploaded JAR: its content hash when the
    name carries one, else the name."""
    sha = jar_sha_prefix(name)
    return content_key(sha) if sha else "jar:" + name


def jars_with_sha(jars, sha256):
    """Uploads of exactly this content (by the name it was uploaded under), newest first."""
    prefix = sha256[:JAR_SHA_CHARS]
    found = [jar for jar in jars if jar_sha_prefix(jar.get("name")) == prefix]
    return sorted(found, key=lambda jar: jar.get("uploaded", 0), reverse=True)


def jars_named(jars, stem):
    """Uploads made under this name (any content), newest first."""
    found = [jar for jar in jars if stem_of(jar.get("name")) == stem]
    return sorted(found, key=lambda jar: jar.get("uploaded", 0), reverse=True)


def local_jar(path):
    """Check that ``path`` is a readable JAR before anything is sent; return its sha256."""
    if not os.path.isfile(path):
        raise FlinkError("JAR file %s does not exist (or is not a file)" % path)
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except (IOError, OSError) as exc:
        raise FlinkError("cannot read JAR file %s: %s" % (path, exc))
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise FlinkError("%s is not a JAR file (a JAR is a ZIP archive; this file does not "
                         "start with a ZIP header)" % path)
    return sha256_file(path)


def upload_of(jars, record):
    """The id of an upload Flink lists of the program spec record ``record`` names: the jar id
    it ran, else another upload of the same content (a restarted JobManager lists neither until
    someone uploads it again); None when there is none."""
    ids = set(jar.get("id") for jar in jars)
    if record.get("jar_id") in ids:
        return record["jar_id"]
    jar = record.get("jar") or ""
    if jar.startswith("sha256:"):
        same = jars_with_sha(jars, jar[len("sha256:"):])
        return same[0]["id"] if same else None
    return None


def find_upload(jars, sha256):
    """The jar id of this content on the cluster, or None."""
    existing = jars_with_sha(jars, sha256)
    return existing[0]["id"] if existing else None


def upload_once(client, path, sha256, stem):
    """Upload a JAR under its content-addressed name; returns its jar id."""
    return upload_jar(client, path, jar_upload_name(stem, sha256))


def ensure_jar(client, path, sha256, stem, jars, change):
    """The jar id of this content on the cluster, uploading it once if needed.

    ``change`` is the caller's change recorder (check mode uploads nothing).
    Returns (jar_id or None in check mode, uploaded: bool).
    """
    existing = find_upload(jars, sha256)
    if existing:
        return existing, False
    name = jar_upload_name(stem, sha256)
    jar_id = change("upload %s as %s" % (path, name), upload_jar, client, path, name)
    return jar_id, True


# ---------------------------------------------------------------------------
# Job ids: the seam of the job-id scheme (see the module docstring).

_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def new_job_id(spec):
    """A fresh job id for a submission of ``spec``: its fingerprint, then random.

    Flink never accepts a job id twice, so the fingerprint lets a later run
    recognise its own submission from /jobs/overview alone.
    """
    return spec.fingerprint + os.urandom(FINGERPRINT_CHARS // 2).hex()


def fingerprint_of(job_id):
    """The spec fingerprint inside a job id this collection chose (or of any job id)."""
    if not job_id or not _JOB_ID.match(job_id):
        return None
    return job_id[:FINGERPRINT_CHARS]


def runs_spec(job_id, spec):
    """Whether job ``job_id`` was submitted for exactly ``spec``."""
    return fingerprint_of(job_id) == spec.fingerprint


# ---------------------------------------------------------------------------
# Spec records: Flink keeps no copy of a job's arguments, yet a rollback needs
# them. Names stay under the 218 characters Flink's upload directory allows
# after its uuid prefix, so a long spec is split over several entries.

SPEC_RECORD_PREFIX = "flinkops-spec-"
_SPEC_RECORD = re.compile(r"^flinkops-spec-([0-9a-f]{16})-(\d+)-(\d+)-([A-Za-z0-9_-]*)\.jar$")
_CHUNK = 160


def encode(payload):
    """The record codec: JSON, zlib, unpadded base64url (safe in a file name)."""
    return base64.urlsafe_b64encode(zlib.compress(
        json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8"), 9)
    ).decode("ascii").rstrip("=")


def decode(data):
    """The inverse of ``encode``; raises ValueError on anything else."""
    try:
        raw = zlib.decompress(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
        return json.loads(raw.decode("utf-8"))
    except (zlib.error, UnicodeDecodeError) as exc:
        raise ValueError(str(exc))


def spec_record_names(spec, jar_id):
    """The JAR-store names recording ``spec`` (and the jar id it ran)."""
    data = encode(dict(spec.to_dict(), jar_id=jar_id))
    chunks = [data[i:i + _CHUNK] for i in range(0, len(data), _CHUNK)] or [""]
    return ["%s%s-%d-%d-%s.jar" % (SPEC_RECORD_PREFIX, spec.fingerprint, index, len(chunks), chunk)
            for index, chunk in enumerate(chunks)]


def read_spec_records(jar_names):
    """Decode every complete, well-formed spec record among JAR names: {fingerprint: spec dict}."""
    return dict((fingerprint, record) for fingerprint, record in _decoded_spec_records(jar_names).items()
                if conforms(record, SPEC))


def malformed_spec_records(jar_names):
    """Fingerprints of complete spec records that decode but do not have a spec's shape."""
    return sorted(fingerprint for fingerprint, record in _decoded_spec_records(jar_names).items()
                  if not conforms(record, SPEC))


def _decoded_spec_records(jar_names):
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
        try:
            records[fingerprint] = decode("".join(chunks[i] for i in range(total)))
        except ValueError:
            continue
    return records


def spec_records(jars):
    """{fingerprint: spec dict} from a /jars listing."""
    return read_spec_records(jar.get("name") for jar in jars)


def is_spec_record(name):
    return bool(_SPEC_RECORD.match(name or ""))


def spec_record_fingerprint(name):
    """The fingerprint a spec record entry's name belongs to, or None for any other name."""
    match = _SPEC_RECORD.match(name or "")
    return match.group(1) if match else None


def record_spec(records, spec, jar_id, entries):
    """Store the spec's record (``records``: the job's record storage, ``_records``) unless
    ``entries`` hold it already."""
    present = set(entry.get("name") for entry in entries)
    for name in spec_record_names(spec, jar_id):
        if name not in present:
            records.write(name)


def stale_spec_records(jars, job_name, keep_fingerprints):
    """Ids of the JAR-store entries recording specs of ``job_name`` that are not kept."""
    records = spec_records(jars)
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


# A job rescaled in place keeps its id, whose fingerprint names the spec it was
# submitted with; an entry "flinkops-rescaled-<job id>-<fingerprint>.jar" says
# which spec (recorded as usual) it runs now. The newest entry of a job wins.
_RESCALED = re.compile(r"^flinkops-rescaled-([0-9a-f]{32})-([0-9a-f]{16})\.jar$")


def rescaled_fingerprint(jars, job_id):
    """The fingerprint of the spec job ``job_id`` runs after an in-place rescale, or None."""
    found = [(jar.get("uploaded", 0), match.group(2)) for jar in jars
             for match in [_RESCALED.match(jar.get("name") or "")]
             if match and match.group(1) == job_id]
    return max(found)[1] if found else None


def record_rescale(records, job_id, spec, entries):
    """Record that job ``job_id`` now runs ``spec`` (whose record the engine wrote before the
    change); drop the job's older entries."""
    records.write("flinkops-rescaled-%s-%s.jar" % (job_id, spec.fingerprint))
    older = [entry["id"] for entry in entries for match in [_RESCALED.match(entry.get("name") or "")]
             if match and match.group(1) == job_id]
    records.delete(older)


def rescale_marks_of(entries, job_ids):
    """The rescale marks among ``entries`` of the jobs ``job_ids``."""
    return [entry for entry in entries for match in [_RESCALED.match(entry.get("name") or "")]
            if match and match.group(1) in job_ids]


# ---------------------------------------------------------------------------
# Disposal records: Flink goes on listing a savepoint in its job's checkpoint
# statistics after it was disposed of, and the REST API cannot tell whether its
# files still exist. Every disposal made through this collection leaves an empty
# JAR named after the path, so a savepoint it disposed of is never handed out
# again (flink_savepoint max_age). Paths disposed of by other means stay unknown.

DISPOSAL_RECORD_PREFIX = "flinkops-disposed-"


def _savepoint_key(path):
    """One spelling of a savepoint path: Flink reports file:/x, users write file:///x or x/."""
    path = (path or "").rstrip("/")
    if path.startswith("file:///"):
        path = "file:/" + path[len("file:///"):]
    return path


def disposal_record_name(path):
    digest = hashlib.sha256(_savepoint_key(path).encode("utf-8")).hexdigest()[:32]
    return "%s%s.jar" % (DISPOSAL_RECORD_PREFIX, digest)


def was_disposed(jars, path):
    return disposal_record_name(path) in set(jar.get("name") for jar in jars)


def record_disposal(records, path, entries):
    if not was_disposed(entries, path):
        records.write(disposal_record_name(path))


def disposal_marks(entries):
    return [entry for entry in entries if (entry.get("name") or "").startswith(DISPOSAL_RECORD_PREFIX)]
