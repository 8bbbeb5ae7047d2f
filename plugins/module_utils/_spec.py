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
import re
import zipfile

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._sealed import has_secrets, new_salt, salt_of, seal, unseal

FINGERPRINT_CHARS = 16


def sha256_file(path, chunk_size=1024 * 1024):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def jar_main_class(path):
    """The Main-Class of a local JAR's manifest, or None (none, or not readable)."""
    try:
        with zipfile.ZipFile(path) as jar:
            manifest = jar.read("META-INF/MANIFEST.MF").decode("utf-8", "replace")
    except (IOError, OSError, KeyError, zipfile.BadZipfile):
        return None
    # Manifest lines wrap at 72 bytes; a continuation line starts with one space.
    for line in manifest.replace("\r\n", "\n").replace("\n ", "").split("\n"):
        if line.lower().startswith("main-class:"):
            return line.split(":", 1)[1].strip() or None
    return None


def listed_main_class(jar):
    """The entry class Flink's JAR list gives an uploaded JAR (its manifest's), or None."""
    entries = jar.get("entry") or []
    return entries[0].get("name") if len(entries) == 1 else None


def _list_item(value, key):
    text = _flat_value(value, key)
    # Flink splits list values on ";" and reads a quoted item whole, a doubled
    # quote standing for one (StructuredOptionsSplitter).
    if ";" in text or text[:1] in ("'", '"'):
        return "'%s'" % text.replace("'", "''")
    return text


def _flat_value(value, key):
    if value is None:
        raise FlinkError("configuration key %s has no value (null): give it a value, or leave "
                         "the key out to use the cluster's setting" % key)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        if any(isinstance(item, (list, tuple, dict)) for item in value):
            raise FlinkError("configuration key %s: a list holds only plain values (Flink's "
                             "list form is item;item;...)" % key)
        return ";".join(_list_item(item, key) for item in value)
    return str(value)


def normalize_configuration(configuration, prefix=""):
    """Flink's flat string form of a job's configuration: the one rule, applied here.

    - a nested dict is flattened into dotted keys, as Flink reads a nested
      config.yaml (``{execution: {checkpointing: {interval: 10s}}}`` is
      ``execution.checkpointing.interval: 10s``);
    - booleans are ``true``/``false``, numbers their decimal text;
    - a list is Flink's list form ``a;b;c`` (an item holding ``;`` is quoted);
    - null is refused, naming the key: Flink has no null value, and sending the
      text "None" would be a silent mistake.
    Raises FlinkError before anything is sent.
    """
    flat = {}
    for key, value in (configuration or {}).items():
        name = "%s%s" % (prefix, key)
        if isinstance(value, dict):
            items = normalize_configuration(value, name + ".").items()
        else:
            items = [(name, _flat_value(value, name))]
        for flat_key, flat_value in items:
            if flat_key in flat:
                raise FlinkError("configuration key %s is given twice (once nested, once "
                                 "dotted)" % flat_key)
            flat[flat_key] = flat_value
    return flat


# Flink's own unit labels (TimeUtils, MemorySize), read case-insensitively as Flink does.
# "m" is minutes to a duration and mebibytes to a memory size: a value in "m" keeps its own
# number, so it never equals a value in another unit (never one spec for two meanings).
_DURATION_NANOS = dict(
    [(label, 1) for label in ("ns", "nano", "nanos", "nanosecond", "nanoseconds")]
    + [(label, 10 ** 3) for label in ("us", "\u00b5s", "micro", "micros", "microsecond", "microseconds")]
    + [(label, 10 ** 6) for label in ("ms", "milli", "millis", "millisecond", "milliseconds")]
    + [(label, 10 ** 9) for label in ("s", "sec", "secs", "second", "seconds")]
    + [(label, 60 * 10 ** 9) for label in ("min", "minute", "minutes")]
    + [(label, 3600 * 10 ** 9) for label in ("h", "hour", "hours")]
    + [(label, 86400 * 10 ** 9) for label in ("d", "day", "days")])
_MEMORY_BYTES = dict(
    [(label, 1) for label in ("b", "bytes")]
    + [(label, 1 << 10) for label in ("k", "kb", "kibibytes")]
    + [(label, 1 << 20) for label in ("mb", "mebibytes")]
    + [(label, 1 << 30) for label in ("g", "gb", "gibibytes")]
    + [(label, 1 << 40) for label in ("t", "tb", "tebibytes")])
_AMOUNT = re.compile(r"^\s*(\d+)\s*([^\d\s]+)\s*$")


def value_normal_form(value):
    """The form two spellings of one Flink configuration value share, for comparing specs
    only (Flink is sent the value as given): ``TRUE`` is ``true``; ``1 s`` and ``1000ms`` one
    duration; ``1g`` and ``1024 mb`` one memory size."""
    text = value.strip()
    if text.lower() in ("true", "false"):
        return text.lower()
    amount = _AMOUNT.match(text)
    if amount:
        number, unit = int(amount.group(1)), amount.group(2).lower()
        if unit in _DURATION_NANOS:
            return "%dns" % (number * _DURATION_NANOS[unit])
        if unit in _MEMORY_BYTES:
            return "%dbytes" % (number * _MEMORY_BYTES[unit])
        return "%d%s" % (number, unit)
    return value


class JobSpec:
    """What a job runs: its name, the JAR's content, entry class, arguments, parallelism,
    configuration.

    Restore options (savepoint path, allow_non_restored_state) are not part of
    the spec: they say how to start, not what runs.
    """

    FIELDS = ("name", "jar", "entry_class", "args", "parallelism", "configuration")

    def __init__(self, name, jar, entry_class=None, args=None, parallelism=None,
                 configuration=None, secret_args=None, salt=None):
        self.name = name
        self.jar = jar
        # "" and None both mean the manifest's Main-Class.
        self.entry_class = entry_class or None
        self.args = list(args or [])
        self.parallelism = parallelism
        self.configuration = normalize_configuration(configuration)
        # Secret values are sealed (module_utils/_sealed.py) in to_dict(): records and the
        # fingerprint hold salted hashes. The salt of the running job's record keeps an
        # unchanged spec's fingerprint unchanged.
        self.secret_args = list(secret_args or [])
        plain = dict(args=self.args, configuration=self.configuration)
        self.salt = (salt or new_salt()) if has_secrets(plain, self.secret_args) else None

    @classmethod
    def from_record(cls, record, given=None):
        """The spec a spec record (``_store``) describes; sealed secrets are taken from
        ``given`` (a spec with clear values) where their hashes match."""
        if salt_of(record):
            clear = given or cls(record.get("name"), record["jar"])
            record = dict(unseal(record, dict(args=clear.args, configuration=clear.configuration),
                                 clear.secret_args), secret_salt=salt_of(record))
        return cls(record.get("name"), record["jar"], record.get("entry_class"),
                   record.get("args"), record.get("parallelism"), record.get("configuration"),
                   secret_args=given.secret_args if given else None, salt=salt_of(record))

    def salted_like(self, running_record):
        """This spec sealed with the salt of ``running_record()`` (called only when the
        spec holds secrets), so an unchanged spec keeps its fingerprint."""
        if self.salt:
            self.salt = salt_of(running_record()) or self.salt
        return self

    def to_dict(self):
        """The spec as recorded and fingerprinted: secret values sealed."""
        plain = dict((field, getattr(self, field)) for field in self.FIELDS)
        return seal(plain, self.secret_args, self.salt)

    @property
    def fingerprint(self):
        compared = self.to_dict()
        # Sealed (secret) values are hashes: compared as they are.
        compared["configuration"] = dict(
            (key, value_normal_form(value) if value == self.configuration.get(key) else value)
            for key, value in compared["configuration"].items())
        canonical = json.dumps(compared, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:FINGERPRINT_CHARS]


def spec_diff(before, after):
    """Ansible's diff structure: whole before and after, so the renderer shows what differs."""
    return {"before": before or {}, "after": after or {}}
