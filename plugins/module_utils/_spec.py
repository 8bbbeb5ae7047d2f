# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""Desired versus actual: job specs, their normal form, fingerprints and diffs.

A spec is what a job runs. Two specs that make Flink run the same job have the
same normal form and so the same fingerprint: that is what keeps a re-run a
no-op. Where the fingerprint goes (job ids, spec records) is ``_store``'s
business.
"""

from __future__ import annotations

import hashlib
import json

FINGERPRINT_CHARS = 16


def sha256_file(path, chunk_size=1024 * 1024):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def normalize_configuration(configuration):
    """Flink's flat string form of a job's configuration."""
    return dict((str(k), str(v)) for k, v in (configuration or {}).items())


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
        self.configuration = normalize_configuration(configuration)

    @classmethod
    def from_record(cls, record):
        """The spec a spec record (``_store``) describes."""
        return cls(record.get("name"), record["jar"], record.get("entry_class"),
                   record.get("args"), record.get("parallelism"), record.get("configuration"))

    def to_dict(self):
        return dict((field, getattr(self, field)) for field in self.FIELDS)

    @property
    def fingerprint(self):
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:FINGERPRINT_CHARS]


def spec_diff(before, after):
    """Ansible's diff structure: whole before and after, so the renderer shows what differs."""
    return {"before": before or {}, "after": after or {}}
