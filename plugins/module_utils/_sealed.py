# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""Secret values inside a job spec: never stored in a spec record, never shown.

Spec records live in the cluster's JAR list, readable by anyone who can
``GET /jars``. A secret program argument or configuration value is replaced
there (and in the spec fingerprint, which is part of the public job id) by a
slow salted hash, ``pbkdf2$<iterations>$<hex>``, with one random salt per
record stored in the record. Change detection compares hashes made with the
record's salt: a changed secret still upgrades, an unchanged one is a no-op.
Results and diffs show ``********`` instead.

What is secret:
- configuration keys Flink itself hides (``GlobalConfiguration.isSensitive``:
  the key, lower-cased, contains one of SENSITIVE_KEYS);
- program arguments after a flag whose name is sensitive the same way
  (``--s3-secret-key VALUE``, ``--password=VALUE``);
- what the user names in ``secret_args``: flags (the value after them) or
  0-based positions in ``args``.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError

MASK = "********"
SEALED_PREFIX = "pbkdf2$"
ITERATIONS = 120000
SALT_FIELD = "secret_salt"
SENSITIVE_KEYS = ("password", "secret", "fs.azure.account.key", "apikey", "api-key",
                  "auth-params", "service-key", "token", "basic-auth", "jaas.config",
                  "http-headers")


class SecretMismatch(FlinkError):
    """A recorded secret differs from the value given now, so it cannot be rebuilt."""


def is_sensitive_key(key):
    lowered = str(key).lower()
    return any(word in lowered for word in SENSITIVE_KEYS)


def _flag_name(arg):
    return arg.lstrip("-").split("=", 1)[0]


def secret_arg_spans(args, secret_args=()):
    """``{index: (prefix, value)}`` for every secret argument value.

    ``prefix`` is the part kept in clear (``--password=`` of ``--password=VALUE``,
    else empty).
    """
    flags = set()
    positions = set()
    for entry in secret_args or ():
        if isinstance(entry, int) or (isinstance(entry, str) and entry.isdigit()):
            positions.add(int(entry))
        else:
            flags.add(_flag_name(str(entry)))
    spans = {}
    args = [str(a) for a in args or ()]
    for index, arg in enumerate(args):
        if index in positions:
            spans[index] = ("", arg)
            continue
        if not arg.startswith("-"):
            continue
        name = _flag_name(arg)
        secret = name in flags or is_sensitive_key(name)
        if not secret:
            continue
        if "=" in arg:
            prefix, value = arg.split("=", 1)
            spans[index] = (prefix + "=", value)
        elif index + 1 < len(args) and index + 1 not in spans:
            spans[index + 1] = ("", args[index + 1])
    return spans


def unmatched_secret_args(args, secret_args=()):
    """The ``secret_args`` entries that name no argument of ``args`` (a typo would leave the
    secret it meant in clear): a position past the end, or a flag ``args`` does not hold."""
    args = [str(a) for a in args or ()]
    flags = set(_flag_name(a) for a in args if a.startswith("-"))
    unmatched = []
    for entry in secret_args or ():
        if isinstance(entry, int) or (isinstance(entry, str) and entry.isdigit()):
            if not 0 <= int(entry) < len(args):
                unmatched.append(str(entry))
        elif _flag_name(str(entry)) not in flags:
            unmatched.append(str(entry))
    return unmatched


def new_salt():
    return os.urandom(16).hex()


def seal_value(value, salt, iterations=None):
    iterations = iterations or ITERATIONS
    digest = hashlib.pbkdf2_hmac("sha256", str(value).encode("utf-8"), bytes.fromhex(salt), iterations)
    return "%s%d$%s" % (SEALED_PREFIX, iterations, digest.hex())


def is_sealed(value):
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def _matches(sealed, value, salt):
    try:
        _prefix, iterations, _hex = sealed.split("$", 2)
        return hmac.compare_digest(sealed, seal_value(value, salt, int(iterations)))
    except ValueError:
        return False


def has_secrets(spec, secret_args=()):
    return bool(secret_arg_spans(spec.get("args"), secret_args)) or any(
        is_sensitive_key(k) for k in (spec.get("configuration") or {}))


def seal(spec, secret_args=(), salt=None):
    """A copy of ``spec`` (a dict with ``args`` and ``configuration``) fit to be stored
    and fingerprinted: secret values replaced by salted hashes, the salt added.

    Pass the salt of the record of the running job (``salt_of``) so an unchanged
    spec seals to the same dict (and fingerprint); None makes a fresh one.
    """
    sealed = dict(spec)
    if not has_secrets(spec, secret_args):
        sealed.pop(SALT_FIELD, None)
        return sealed
    salt = salt or new_salt()
    args = [str(a) for a in spec.get("args") or ()]
    for index, (prefix, value) in secret_arg_spans(args, secret_args).items():
        args[index] = prefix + (value if is_sealed(value) else seal_value(value, salt))
    sealed["args"] = args
    configuration = dict(spec.get("configuration") or {})
    for key, value in configuration.items():
        if is_sensitive_key(key) and not is_sealed(value):
            configuration[key] = seal_value(value, salt)
    sealed["configuration"] = configuration
    sealed[SALT_FIELD] = salt
    return sealed


def salt_of(record):
    return (record or {}).get(SALT_FIELD)


def masked(spec, secret_args=()):
    """What a user may see of a spec or a record: secrets (clear or sealed) as ``********``."""
    if not isinstance(spec, dict):
        return spec
    shown = dict(spec)
    shown.pop(SALT_FIELD, None)
    if "args" in spec:
        args = [str(a) for a in spec.get("args") or ()]
        for index, (prefix, _value) in secret_arg_spans(args, secret_args).items():
            args[index] = prefix + MASK
        shown["args"] = [MASK if is_sealed(a) else a for a in args]
    if "configuration" in spec:
        shown["configuration"] = dict(
            (k, MASK if (is_sensitive_key(k) or is_sealed(v)) else v)
            for k, v in (spec.get("configuration") or {}).items())
    return shown


def unseal(record, spec, secret_args=()):
    """The recorded spec with its sealed values replaced by the clear values given now
    (``spec``), for a rollback to the recorded spec.

    A sealed value is matched against the value at the same place in ``spec``
    (same configuration key; same flag or position in the arguments), then
    against every secret value given now. Raises SecretMismatch naming (not
    showing) what cannot be rebuilt.
    """
    salt = salt_of(record)
    result = dict(record)
    result.pop(SALT_FIELD, None)
    if not salt:
        return result
    given_args = [str(a) for a in spec.get("args") or ()]
    candidates = [value for _prefix, value in secret_arg_spans(given_args, secret_args).values()]
    given_conf = spec.get("configuration") or {}
    candidates += [str(v) for k, v in given_conf.items() if is_sensitive_key(k)]
    missing = []

    def rebuild(sealed, preferred, where):
        for value in ([preferred] if preferred is not None else []) + candidates:
            if _matches(sealed, value, salt):
                return value
        missing.append(where)
        return sealed

    args = [str(a) for a in record.get("args") or ()]
    for index, arg in enumerate(args):
        prefix, _sep, value = arg.rpartition(SEALED_PREFIX)
        if not _sep:
            continue
        sealed = SEALED_PREFIX + value
        preferred = None
        if index < len(given_args) and given_args[index].startswith(prefix):
            preferred = given_args[index][len(prefix):]
        args[index] = prefix + rebuild(sealed, preferred, "argument %d" % index)
    if "args" in record:
        result["args"] = args
    configuration = dict(record.get("configuration") or {})
    for key, value in configuration.items():
        if is_sealed(value):
            given = given_conf.get(key)
            configuration[key] = rebuild(value, None if given is None else str(given), "configuration key %s" % key)
    if "configuration" in record:
        result["configuration"] = configuration
    if missing:
        raise SecretMismatch("the recorded spec holds secret values that differ from the ones "
                             "given now (%s): they are stored only as hashes, so that spec "
                             "cannot be started again" % ", ".join(missing))
    return result
