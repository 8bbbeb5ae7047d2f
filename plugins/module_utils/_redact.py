# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""The one redaction rule: what counts as a secret and how it is hidden in text.

Every message, result, diff and warning of the collection passes through
``Redactor.text`` / ``Redactor.data``. Secrets are known values (passwords,
tokens, header values, credentials inside URLs) plus shapes that are secret
whatever their value (PEM private keys, ``user:pass@`` in any URL).
"""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote, quote_plus, unquote

MASK = "********"
# Shorter values are not replaced in free text: "1" or "abc" would mangle
# unrelated output (127.0.0.1 -> ********27.0.0.********). Options refuse credentials
# this short instead (see too_short), and values are never echoed by the modules.
MIN_SCRUB_LENGTH = 6
MIN_CREDENTIAL_LENGTH = 8

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
# What may follow the '@' that ends the credentials: a host and optional port.
_HOST_AFTER_AT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:\d*)?(?=[/?#\s'\"\\,;)>\]}]|$)")
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----.*?(-----END \1-----|$)", re.DOTALL)
_PEM_ESCAPED = re.compile(r"-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----(?:\\n|\\r|[^\s'\"])*(?:-----END \1-----)?")
# A secret stored as a salted hash (module_utils/_sealed.py) is shown masked too.
_SEALED = re.compile(r"pbkdf2\$\d+\$[0-9a-f]{16,}")
_AUTH_HEADER_VALUE = re.compile(r"((?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)

# Header names whose value is a credential: refused when absurdly short.
_CREDENTIAL_HEADER = re.compile(r"auth|token|key|secret|passw|cookie|session|signature", re.IGNORECASE)


def split_url_credentials(url):
    """``(url without credentials, user, password)`` for ``scheme://user:pass@host/...``.

    The credentials end at the last ``@`` that is followed by a host, so a password
    may hold any character, ``@``, ``:`` and ``/`` included. Percent-escapes are
    decoded. Without credentials, user and password are None.
    """
    if not isinstance(url, str):
        return url, None, None
    scheme = _SCHEME.match(url)
    if not scheme:
        return url, None, None
    rest = url[scheme.end():]
    at = _credentials_end(rest, in_text=False)
    if at is None:
        return url, None, None
    userinfo = rest[:at]
    user, sep, password = userinfo.partition(":")
    return (url[:scheme.end()] + rest[at + 1:], unquote(user) or None,
            unquote(password) if sep else None)


def _credentials_end(rest, in_text=True):
    """Index of the '@' ending the credentials in ``rest`` (after ``scheme://``), or None.

    In free text a URL also ends at a quote or bracket (a repr, JSON); a URL given
    alone (an option's value) ends only at whitespace.
    """
    end_of_token = len(rest)
    for index, char in enumerate(rest):
        if char.isspace() or (in_text and char in "\"'<>\\"):
            end_of_token = index
            break
    best = None
    index = rest.find("@", 0, end_of_token)
    while index >= 0:
        if _HOST_AFTER_AT.match(rest, index + 1):
            best = index
        index = rest.find("@", index + 1, end_of_token)
    return best


def redact_url(url):
    """The URL with any ``user:password@`` removed (``user@`` too)."""
    return split_url_credentials(url)[0]


def redact_urls_in_text(text):
    """Remove credentials from every URL inside free text."""
    out = []
    position = 0
    for match in _SCHEME.finditer(text):
        if match.start() < position:
            continue
        rest = text[match.end():]
        at = _credentials_end(rest)
        out.append(text[position:match.end()])
        position = match.end() + (at + 1 if at is not None else 0)
    out.append(text[position:])
    return "".join(out)


def forms(secret):
    """Every way a secret value shows up in text: raw, stripped, repr- and JSON-escaped,
    percent-encoded, and as the payload of a basic authentication header."""
    if secret is None:
        return set()
    value = secret if isinstance(secret, str) else str(secret)
    candidates = {value, value.strip(), repr(value)[1:-1], json.dumps(value)[1:-1],
                  json.dumps(value, ensure_ascii=False)[1:-1], quote(value, safe=""),
                  quote_plus(value, safe=""), value.encode("unicode_escape").decode("ascii")}
    # Escaped twice: a JSON string holding a repr (Ansible results shown at -vvv).
    candidates.update(json.dumps(c)[1:-1] for c in list(candidates))
    return set(c for c in candidates if len(c) >= MIN_SCRUB_LENGTH)


def too_short(value):
    """True for a credential too short to be real (a typo such as ``headers: {X-Api-Key: 1}``)."""
    return value is not None and len(str(value).strip()) < MIN_CREDENTIAL_LENGTH


def is_credential_header(name):
    return bool(_CREDENTIAL_HEADER.search(str(name)))


class Redactor:
    """Hides a set of known secret values plus every secret-shaped text."""

    def __init__(self, secrets=()):
        self._forms = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret, user=None):
        """Register a secret; with ``user``, also the basic-auth header built from it."""
        if secret is None or secret == "":
            return
        self._forms.update(forms(secret))
        if user is not None:
            token = base64.b64encode(("%s:%s" % (user, secret)).encode("utf-8", "replace"))
            self._forms.update(forms(token.decode("ascii")))

    @property
    def values(self):
        return frozenset(self._forms)

    def text(self, text):
        if not isinstance(text, str) or not text:
            return text
        text = redact_urls_in_text(text)
        text = _PEM_BLOCK.sub(lambda m: "-----BEGIN %s-----%s" % (m.group(1), MASK), text)
        text = _PEM_ESCAPED.sub(lambda m: "-----BEGIN %s-----%s" % (m.group(1), MASK), text)
        text = _AUTH_HEADER_VALUE.sub(lambda m: m.group(1) + MASK, text)
        text = _SEALED.sub(MASK, text)
        # Longest first, so a secret's escaped form is not half-replaced by its raw form.
        for form in sorted(self._forms, key=len, reverse=True):
            if form in text:
                text = text.replace(form, MASK)
        return text

    def data(self, value):
        """Redact every string inside a result (dicts, lists, tuples), keys included."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return dict((self.data(k), self.data(v)) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return [self.data(v) for v in value]
        return value
