# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""Records on S3-compatible object storage (``state_store=s3://bucket/prefix?...``).

URL: ``s3://BUCKET[/PREFIX][?endpoint=URL][&region=REGION][&addressing=path|virtual]``.
Credentials come only from the standard AWS credential chain (``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``, ``AWS_PROFILE`` and the shared
files, an instance or container role); a URL carrying credentials (``user:pass@`` or a
credential-like query parameter) is refused.

Every entry is an empty object ``PREFIX/SCOPE/NAME``; its id is its name.

- ``create``: ``PutObject`` with ``If-None-Match: *``, S3's atomic create-if-absent
  (answered ``412 PreconditionFailed`` when the key exists: the existing entry's id is
  returned). A ``409 ConditionalRequestConflict`` (a concurrent conditional write) is
  retried. The store must implement conditional writes (AWS S3 since 2024, SeaweedFS,
  MinIO, Ceph RGW recent releases).
- ``entries``: ``ListObjectsV2`` (paginated); ``uploaded`` is the object's
  ``LastModified``, the store's clock (S3 keeps it in whole seconds).
- ``delete``: ``DeleteObjects`` in batches of 1000; a key already gone is not an error.
- the scope's head (``read_head``/``swap_head``): the object ``PREFIX/SCOPE.head``, beside
  the scope's entries (never listed with them); its token is its ETag. It is created with
  ``If-None-Match: *`` and replaced with ``If-Match: <ETag>``: ``412 PreconditionFailed``
  (or a ``409``/``404`` of a concurrent write or delete) means another writer won.
- ``ephemeral`` entries are stored like the others: S3 cannot tell whether their
  writer is alive, so they expire by the ttl in their payload (judged on ``uploaded``).
"""

from __future__ import annotations

import re
import time
import traceback
from urllib.parse import parse_qsl, urlsplit

from ansible_collections.flinkops.flink.plugins.module_utils._records._backend import (
    NAME,
    Backend,
    StoreError,
    StoreUnavailable,
    check_name,
    check_scope,
)
from ansible_collections.flinkops.flink.plugins.module_utils._redact import redact_url, split_url_credentials

BOTO3_IMPORT_ERROR = None
try:
    import boto3
    from botocore import exceptions as botocore_exceptions
    from botocore.config import Config
except ImportError:  # pragma: no cover - reported by open_backend
    boto3 = None
    botocore_exceptions = None
    Config = None
    BOTO3_IMPORT_ERROR = traceback.format_exc()

HAS_BOTO3 = boto3 is not None

_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_PREFIX_PART = re.compile(r"^[A-Za-z0-9._-]+$")
_KNOWN_PARAMS = ("endpoint", "region", "addressing")
_CREDENTIAL_PARAM = re.compile(r"key|secret|token|passw|credential|session|signature|auth|profile",
                               re.IGNORECASE)
_REFUSED_CODES = frozenset((
    "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken",
    "TokenRefreshRequired", "InvalidClientTokenId", "AuthorizationHeaderMalformed",
    "InvalidSecurity", "AllAccessDisabled", "AccountProblem", "RequestTimeTooSkewed",
))
_UNAVAILABLE_CODES = frozenset((
    "SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling",
    "ThrottlingException", "RequestLimitExceeded", "TooManyRequests",
))
_DELETE_BATCH = 1000
_CONFLICT_RETRIES = 5
DEFAULT_TIMEOUT = 10.0


def _url_error(url, problem):
    return StoreError("state_store %s: %s" % (_shown(url), problem))


def _shown(url):
    """The URL for messages: credentials and every query value that is not ours removed."""
    try:
        parts = urlsplit(split_url_credentials(url)[0])
    except ValueError:
        return "s3://(unparsable URL)"
    netloc = parts.netloc.rpartition("@")[2]
    shown = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in _KNOWN_PARAMS:
            shown.append("%s=%s" % (key, redact_url(value)))
        else:
            shown.append("%s=..." % key)
    return "%s://%s%s%s" % (parts.scheme, netloc, parts.path, "?" + "&".join(shown) if shown else "")


def parse_url(url):
    """``(bucket, prefix, endpoint, region, addressing)`` of an ``s3://`` URL, or StoreError."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise _url_error(url, "not a valid URL (%s)" % exc)
    if parts.scheme.lower() != "s3":
        raise _url_error(url, "not an s3:// URL")
    _stripped, user, password = split_url_credentials(url)
    if user or password or "@" in parts.netloc:
        raise _url_error(url, "credentials are not accepted in the URL: S3 credentials come only from "
                              "the AWS environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), "
                              "AWS_PROFILE and the shared credential files, or an instance role")
    params = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if _CREDENTIAL_PARAM.search(key):
            raise _url_error(url, "the query parameter %r looks like a credential; credentials are not "
                                  "accepted in the URL: S3 credentials come only from the AWS environment "
                                  "variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), AWS_PROFILE and "
                                  "the shared credential files, or an instance role" % key)
        if key not in _KNOWN_PARAMS:
            raise _url_error(url, "unknown query parameter %r (known: %s)" % (key, ", ".join(_KNOWN_PARAMS)))
        if key in params:
            raise _url_error(url, "the query parameter %r is given twice" % key)
        params[key] = value
    bucket = parts.netloc
    if not bucket:
        raise _url_error(url, "the bucket is missing: use s3://BUCKET/PREFIX?endpoint=...")
    if not _BUCKET.match(bucket):
        raise _url_error(url, "%r is not a valid bucket name" % bucket)
    if parts.fragment:
        raise _url_error(url, "a fragment (#...) is not accepted")
    segments = [segment for segment in parts.path.split("/") if segment]
    for segment in segments:
        if not _PREFIX_PART.match(segment) or segment in (".", ".."):
            raise _url_error(url, "the prefix %r may hold only letters, digits, '.', '_', '-' and '/'"
                                  % parts.path)
    prefix = "/".join(segments)
    endpoint = params.get("endpoint") or None
    if endpoint is not None:
        if "@" in endpoint.rpartition("//")[2].partition("/")[0]:
            raise _url_error(url, "credentials are not accepted in the endpoint")
        try:
            ep = urlsplit(endpoint)
            valid = ep.scheme in ("http", "https") and bool(ep.hostname) and (ep.port is None or ep.port > 0)
        except ValueError as exc:
            raise _url_error(url, "endpoint %r is not a valid URL (%s)" % (redact_url(endpoint), exc))
        if not valid:
            raise _url_error(url, "endpoint %r must be an http:// or https:// URL" % redact_url(endpoint))
    region = params.get("region") or None
    if region is not None and not re.match(r"^[a-z0-9-]{1,40}$", region):
        raise _url_error(url, "region %r is not a valid region name" % region)
    addressing = params.get("addressing") or None
    if addressing is not None and addressing not in ("path", "virtual", "auto"):
        raise _url_error(url, "addressing must be path or virtual, not %r" % addressing)
    return bucket, prefix, endpoint, region, addressing


def open_backend(url, timeout):
    """The S3Backend of ``url`` (no request is made yet)."""
    parsed = parse_url(url)
    if not HAS_BOTO3:
        raise StoreError("state_store %s needs the Python library boto3 on the host that runs the module"
                         % _shown(url))
    return S3Backend(*parsed, timeout=timeout)


class S3Backend(Backend):
    """Entries as empty objects ``PREFIX/SCOPE/NAME`` in one bucket."""

    scheme = "s3"

    def __init__(self, bucket, prefix, endpoint=None, region=None, addressing=None, timeout=None):
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint = endpoint
        self.region = region
        self.addressing = addressing
        self.timeout = float(timeout or DEFAULT_TIMEOUT)
        self._client = None
        self._secrets = ()

    # ------------------------------------------------------------------ connection

    def describe(self):
        text = "s3://%s%s" % (self.bucket, "/" + self.prefix if self.prefix else "")
        query = []
        if self.endpoint:
            query.append("endpoint=" + redact_url(self.endpoint))
        if self.region:
            query.append("region=" + self.region)
        if self.addressing:
            query.append("addressing=" + self.addressing)
        return text + ("?" + "&".join(query) if query else "")

    def _s3(self, operation):
        if self._client is None:
            try:
                session = boto3.session.Session()
                s3_config = {"addressing_style": self.addressing} if self.addressing else {}
                config = Config(connect_timeout=self.timeout, read_timeout=self.timeout,
                                retries={"max_attempts": 3, "mode": "standard"}, s3=s3_config)
                self._client = session.client("s3", endpoint_url=self.endpoint, region_name=self.region,
                                              config=config)
                credentials = session.get_credentials()
                if credentials is not None:
                    frozen = credentials.get_frozen_credentials()
                    self._secrets = tuple(s for s in (frozen.secret_key, frozen.token) if s and len(s) >= 6)
            except Exception as exc:  # botocore: ProfileNotFound, invalid config, ...
                raise self._error(operation, exc)
        return self._client

    def close(self):
        client, self._client = self._client, None
        if client is not None:
            closer = getattr(client, "close", None)
            if closer is not None:
                try:
                    closer()
                except Exception:  # pragma: no cover - closing never matters
                    pass

    # ------------------------------------------------------------------ keys

    def _scope_prefix(self, scope):
        check_scope(scope)
        return "%s/%s/" % (self.prefix, scope) if self.prefix else scope + "/"

    # ------------------------------------------------------------------ operations

    def entries(self, scope):
        prefix = self._scope_prefix(scope)
        operation = "listing scope %s" % scope
        client = self._s3(operation)
        out = []
        try:
            paginator = client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents") or ():
                    name = item["Key"][len(prefix):]
                    if not NAME.match(name):
                        continue  # not one of ours (a "directory" below the scope, a stray key)
                    out.append({"id": name, "name": name,
                                "uploaded": int(round(item["LastModified"].timestamp() * 1000))})
        except Exception as exc:
            raise self._error(operation, exc)
        return out

    def create(self, scope, name, ephemeral=False):
        return self._create(scope, name, ephemeral)[0]

    def _create(self, scope, name, ephemeral=False):
        """``(id, new)``: ``new`` is True when this call created the entry."""
        key = self._scope_prefix(scope) + check_name(name)
        operation = "creating %s in scope %s" % (name, scope)
        client = self._s3(operation)
        for attempt in range(_CONFLICT_RETRIES + 1):
            try:
                client.put_object(Bucket=self.bucket, Key=key, Body=b"", IfNoneMatch="*")
                return name, True
            except Exception as exc:
                code, status = _client_error(exc)
                if code == "PreconditionFailed" or status == 412:
                    return name, False
                if (code == "ConditionalRequestConflict" or status == 409) and attempt < _CONFLICT_RETRIES:
                    time.sleep(0.05 * (attempt + 1))
                    continue
                raise self._error(operation, exc)
        raise StoreError("unreachable")  # pragma: no cover

    def _head_key(self, scope):
        return self._scope_prefix(scope)[:-1] + ".head"

    def read_head(self, scope):
        key = self._head_key(scope)
        operation = "reading the head of scope %s" % scope
        client = self._s3(operation)
        try:
            answer = client.get_object(Bucket=self.bucket, Key=key)
            value = answer["Body"].read().decode("utf-8")
        except Exception as exc:
            code, status = _client_error(exc)
            if code in ("NoSuchKey", "404") or status == 404:
                return None, None
            raise self._error(operation, exc)
        return value, answer.get("ETag")

    def swap_head(self, scope, expected, value):
        key = self._head_key(scope)
        operation = "moving the head of scope %s" % scope
        client = self._s3(operation)
        condition = {"IfNoneMatch": "*"} if expected is None else {"IfMatch": expected}
        try:
            client.put_object(Bucket=self.bucket, Key=key, Body=value.encode("utf-8"), **condition)
            return True
        except Exception as exc:
            code, status = _client_error(exc)
            if code in ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey") or \
                    status in (404, 409, 412):
                return False
            raise self._error(operation, exc)

    def delete(self, scope, ids):
        prefix = self._scope_prefix(scope)
        keys = [prefix + check_name(i) for i in ids]
        operation = "deleting %d entr%s in scope %s" % (len(keys), "y" if len(keys) == 1 else "ies", scope)
        if not keys:
            return
        client = self._s3(operation)
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start:start + _DELETE_BATCH]
            try:
                answer = client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
            except Exception as exc:
                raise self._error(operation, exc)
            errors = [e for e in answer.get("Errors") or () if e.get("Code") != "NoSuchKey"]
            if errors:
                first = errors[0]
                raise StoreError("state_store %s: %s failed for %d key(s)" % (self.describe(), operation, len(errors)),
                                 cause="%s: %s (%s)" % (first.get("Key"), first.get("Code"),
                                                        self._scrub(first.get("Message") or "")))

    # ------------------------------------------------------------------ errors

    def _scrub(self, text):
        text = str(text)
        for secret in self._secrets:
            text = text.replace(secret, "********")
        return text

    def _error(self, operation, exc):
        """The StoreError (or StoreUnavailable) for botocore's ``exc``."""
        if isinstance(exc, StoreError):
            return exc
        where = "state_store %s: %s" % (self.describe(), operation)
        cause = self._scrub("%s: %s" % (type(exc).__name__, exc))
        be = botocore_exceptions
        if be is not None and isinstance(exc, (be.ConnectionError, be.HTTPClientError)):
            return StoreUnavailable("%s failed: the store could not be reached or answered too late "
                                    "(timeout %.0f s)" % (where, self.timeout), cause=cause)
        if be is not None and isinstance(exc, (be.NoCredentialsError, be.PartialCredentialsError)):
            return StoreError("%s failed: no usable AWS credentials were found (set AWS_ACCESS_KEY_ID and "
                              "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, on the host that runs the module)"
                              % where, cause=cause)
        code, status = _client_error(exc)
        if code == "NoSuchBucket":
            return StoreError("%s failed: the bucket %s does not exist (create it first)" % (where, self.bucket),
                              cause=cause)
        if code in _REFUSED_CODES or status in (401, 403):
            return StoreError("%s failed: the store refused the credentials (HTTP %s %s): check the AWS "
                              "credentials given to the module and their permissions on bucket %s"
                              % (where, status, code, self.bucket), cause=cause)
        if code in _UNAVAILABLE_CODES or (status is not None and status >= 500):
            return StoreUnavailable("%s failed: the store answered HTTP %s %s" % (where, status, code), cause=cause)
        return StoreError("%s failed" % where, cause=cause)


def _client_error(exc):
    """``(error code, HTTP status)`` of a botocore ClientError, else ``(None, None)``."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None, None
    code = (response.get("Error") or {}).get("Code")
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return code, status
