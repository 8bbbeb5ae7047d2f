# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""Downloading a JAR from ``src_url``: credentials and headers go to its origin only."""

from __future__ import annotations

import hashlib
from urllib.parse import urljoin, urlsplit

try:
    import requests
except ImportError:  # pragma: no cover - reported by _client
    requests = None

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._redact import (
    Redactor,
    redact_url,
    split_url_credentials,
)
from ansible_collections.flinkops.flink.plugins.module_utils._transport import (
    describe_transport_error,
    environment_proxy,
    header_problem,
    is_loopback,
)

MAX_REDIRECTS = 10


def origin(url):
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return (parts.scheme, (parts.hostname or "").lower(), parts.port or default)


def download(url, destination, headers=None, validate_certs=True, timeout=60, ca_path=None,
             headers_to_redirects=False, redactor=None, session=None):
    """Stream ``url`` into the file ``destination``; return its sha256 hex digest.

    Like curl without ``--location-trusted``: ``headers`` and credentials written
    into the URL are sent to the origin of ``url`` only, never to another host a
    redirect points at, unless ``headers_to_redirects`` is true.
    """
    redactor = redactor or Redactor()
    url, user, password = split_url_credentials(url)
    redactor.add(password, user=user)
    for value in (headers or {}).values():
        redactor.add(value)
    problem = header_problem(headers, "src_headers")
    if problem:
        raise FlinkError(problem)
    headers = dict((str(k), str(v).strip()) for k, v in (headers or {}).items())
    auth = (user.encode("utf-8"), (password or "").encode("utf-8")) if user else None
    verify = ca_path if (validate_certs and ca_path) else bool(validate_certs)
    session = session or requests.Session()
    first = origin(url)
    digest = hashlib.sha256()
    current = url
    try:
        for _hop in range(MAX_REDIRECTS + 1):
            trusted = headers_to_redirects or origin(current) == first
            session.trust_env = not is_loopback(current)
            with session.get(current, headers=headers if trusted else {},
                             auth=auth if trusted else None, verify=verify, stream=True,
                             timeout=timeout, allow_redirects=False) as response:
                if response.is_redirect and response.headers.get("location"):
                    current = urljoin(current, response.headers["location"])
                    continue
                if response.status_code != 200:
                    raise FlinkError("download failed", method="GET", url=redact_url(current),
                                     status=response.status_code,
                                     cause=response.text[:300]).redacted(redactor)
                with open(destination, "wb") as handle:
                    for chunk in response.iter_content(chunk_size=1024 * 1024):
                        digest.update(chunk)
                        handle.write(chunk)
                return digest.hexdigest()
    except requests.exceptions.RequestException as exc:
        proxy = environment_proxy(current) if session.trust_env else None
        what, detail = describe_transport_error(exc, proxy)
        raise FlinkError("download failed (%s)" % what, method="GET", url=redact_url(current),
                         cause=detail).redacted(redactor)
    except (OSError, ValueError) as exc:
        raise FlinkError("download failed (%s)" % type(exc).__name__, method="GET",
                         url=redact_url(current), cause=str(exc)).redacted(redactor)
    raise FlinkError("download failed: more than %d redirects" % MAX_REDIRECTS, method="GET",
                     url=redact_url(url)).redacted(redactor)
