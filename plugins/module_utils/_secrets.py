# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""A module's secrets: collected from its options, checked, and hidden in everything it returns.

Ansible masks ``no_log`` options by replacing each of their values wherever it
appears in the result. A short value (``headers: {X-Debug: 1}``) then mangles
unrelated text (``127.0.0.1`` -> ``********27.0.0.********``). So the module
returns its own invocation with secret options masked, registers only values
long enough to be safe with Ansible, and refuses credentials too short to be real.
"""

from __future__ import annotations

import math
import os
from urllib.parse import parse_qsl, urlsplit

from ansible_collections.flinkops.flink.plugins.module_utils._redact import (
    MASK,
    MIN_SCRUB_LENGTH,
    Redactor,
    is_credential_header,
    redact_url,
    split_url_credentials,
    too_short,
)
from ansible_collections.flinkops.flink.plugins.module_utils._sealed import (
    is_sensitive_key,
    masked,
    secret_arg_spans,
)

NO_LOG_SHOWN = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
URL_OPTIONS = ("url", "src_url", "state_store")
HEADER_OPTIONS = ("headers", "src_headers")
PEM_CERT = "-----BEGIN CERTIFICATE-----"


def _looks_like_key_material(value):
    return isinstance(value, str) and "-----BEGIN" in value


def collect(params, argument_spec):
    """A Redactor knowing every secret value among the module's options."""
    redactor = Redactor()
    for name, spec in argument_spec.items():
        value = params.get(name)
        if value is None:
            continue
        if spec.get("no_log"):
            if isinstance(value, dict):
                for item in value.values():
                    redactor.add(item)
            else:
                redactor.add(value)
        if isinstance(value, str):
            _url, user, password = split_url_credentials(value)
            redactor.add(password, user=user)
            # A credential passed as a query parameter (?password=, ?secret_key=, ?token=).
            for key, item in parse_qsl(urlsplit(value).query if "://" in value else ""):
                if is_sensitive_key(key):
                    redactor.add(item)
            if _looks_like_key_material(value):
                redactor.add(value)
    if params.get("url_password") is not None:
        redactor.add(params["url_password"], user=params.get("url_username") or "")
    args, secret_args, configuration = (params.get("args"), params.get("secret_args"),
                                        params.get("configuration"))
    # Before Ansible's validation these may still be of any type.
    if isinstance(args, list) and isinstance(secret_args or [], list):
        for _prefix, value in secret_arg_spans(args, secret_args or ()).values():
            redactor.add(value)
    if isinstance(configuration, dict):
        for key, value in _flat(configuration):
            if is_sensitive_key(key):
                redactor.add(value)
    return redactor


def _flat(configuration, prefix=""):
    """(dotted key, value) of a configuration, nested dictionaries flattened as Flink reads them."""
    for key, value in configuration.items():
        if isinstance(value, dict):
            yield from _flat(value, "%s%s." % (prefix, key))
        else:
            yield "%s%s" % (prefix, key), value


def _mask_nested(configuration, prefix=""):
    return dict((key, _mask_nested(value, "%s%s." % (prefix, key)) if isinstance(value, dict)
                 else (MASK if is_sensitive_key("%s%s" % (prefix, key)) else value))
                for key, value in configuration.items())


def shown_invocation(params, argument_spec, redactor):
    """The module arguments as a user may see them (``-vvv``)."""
    shown = {}
    for name, value in params.items():
        spec = argument_spec.get(name, {})
        if value is None or isinstance(value, bool):
            shown[name] = value
        elif spec.get("no_log"):
            shown[name] = dict((k, NO_LOG_SHOWN) for k in value) if isinstance(value, dict) else NO_LOG_SHOWN
        elif name in URL_OPTIONS:
            shown[name] = redactor.text(redact_url(value))
        elif _looks_like_key_material(value):
            shown[name] = MASK
        else:
            shown[name] = redactor.data(value)
    if isinstance(shown.get("args", []), list) and isinstance(shown.get("configuration", {}), dict) \
            and isinstance(params.get("secret_args") or [], list):
        view = masked(dict((k, shown.get(k)) for k in ("args", "configuration") if k in shown),
                      params.get("secret_args") or ())
        if isinstance(shown.get("configuration"), dict):
            view["configuration"] = _mask_nested(shown["configuration"])
        shown.update(view)
    return shown


def mask_specs(value, secret_args=()):
    """Every job spec inside a result (a dict with ``args`` or ``configuration``) with its
    secret values masked: diffs, recorded specs shown by flink_job_info, records written
    before secrets were sealed."""
    if isinstance(value, list):
        return [mask_specs(v, secret_args) for v in value]
    if not isinstance(value, dict):
        return value
    value = dict((k, mask_specs(v, secret_args)) for k, v in value.items())
    if isinstance(value.get("args", []), list) and isinstance(value.get("configuration", {}), dict) \
            and ("args" in value or "configuration" in value):
        value = masked(value, secret_args)
    return value


def safe_no_log_values(values):
    """Ansible's no_log values minus the ones that would mangle unrelated output."""
    return set(v for v in values if len(str(v)) >= MIN_SCRUB_LENGTH and not str(v).strip().isdigit())


def problems(params):
    """Connection option values that cannot work, each named, never shown."""
    found = []
    token = params.get("bearer_token")
    if token is not None and too_short(token):
        found.append("bearer_token is %d characters long: not a token (check the variable that sets it)"
                     % len(token.strip()))
    for option in HEADER_OPTIONS:
        for name, value in (params.get(option) or {}).items():
            if is_credential_header(name) and too_short(value):
                found.append("%s: the value of %s is %d characters long: too short for a credential "
                             "(check the variable that sets it)" % (option, name, len(str(value).strip())))
    timeout = params.get("request_timeout")
    if timeout is not None and (not math.isfinite(timeout) or not 0 < timeout <= 3600):
        found.append("request_timeout must be between 0 and 3600 seconds, got %s" % timeout)
    found.extend(_file_problems(params))
    return found


def _file_problems(params):
    found = []
    for name in ("ca_path", "src_ca_path", "client_cert", "client_key"):
        path = params.get(name)
        if not path:
            continue
        if _looks_like_key_material(path):
            found.append("%s must be the path of a PEM file; the value given is PEM content "
                         "itself (not shown)" % name)
            continue
        if name.endswith("ca_path") and os.path.isdir(path):
            if not os.access(path, os.R_OK | os.X_OK):
                found.append("%s: directory %s is not readable" % (name, path))
            continue
        text = _read_head(path)
        if text is None:
            found.append("%s: no readable file at %s" % (name, path))
        elif name == "client_key":
            if "PRIVATE KEY-----" not in text:
                found.append("client_key: %s is not a PEM private key (no '-----BEGIN ... PRIVATE KEY-----' "
                             "line)" % path)
            elif "ENCRYPTED" in text:
                found.append("client_key: %s is encrypted; the key must be an unencrypted PEM file" % path)
        elif PEM_CERT not in text:
            found.append("%s: %s is not a PEM certificate file (no '%s' line)" % (name, path, PEM_CERT))
        elif name == "client_cert" and not params.get("client_key") and "PRIVATE KEY-----" not in text:
            found.append("client_cert: %s holds no private key; set client_key to the key's PEM file" % path)
    return found


def _read_head(path, limit=1024 * 1024):
    try:
        with open(path, "rb") as handle:
            return handle.read(limit).decode("utf-8", "replace")
    except (IOError, OSError):
        return None
