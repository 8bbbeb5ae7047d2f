# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""Records in a PostgreSQL table (``state_store=postgresql://user:password@host:port/database``).

The URL is handed to libpq as is (``sslmode``, ``sslrootcert``, ``options`` and the other
libpq URI parameters work); the password may also come from ``PGPASSWORD`` or a
``~/.pgpass`` file. ``describe()`` shows the URL without the password.

Every entry is a row of ``flinkops_records`` (created when missing, in the first schema
of the connection's ``search_path``: set it with ``?options=-csearch_path%3DSCHEMA`` to
keep the table elsewhere than ``public``; a role that may not create tables can use a
table its administrator created with the same definition)::

    CREATE TABLE flinkops_records (
        scope text NOT NULL, name text NOT NULL,
        created timestamptz NOT NULL DEFAULT clock_timestamp(),
        owner_pid integer, owner_started timestamptz,
        PRIMARY KEY (scope, name))

- ``create``: ``INSERT ... ON CONFLICT DO NOTHING RETURNING``, atomic create-if-absent;
  the id is the name. ``uploaded`` is ``created`` in epoch milliseconds, the server's clock.
- ``delete``: ``DELETE ... WHERE scope = %s AND name = ANY(%s)``.
- the scope's head (``read_head``/``swap_head``): a row of ``flinkops_heads`` (created
  beside ``flinkops_records``, same rules) with a version column, the token::

    CREATE TABLE flinkops_heads (
        scope text PRIMARY KEY, value text NOT NULL, version bigint NOT NULL,
        moved timestamptz NOT NULL DEFAULT clock_timestamp())

  created with ``INSERT ... ON CONFLICT DO NOTHING`` and moved with ``UPDATE ... WHERE
  version = <token>``: no row inserted or updated means another writer won.
- ``ephemeral`` entries (the guard's claims) record the writing session
  (``pg_backend_pid()`` and that backend's start time). ``entries()`` leaves out an
  ephemeral row whose session is no longer in ``pg_stat_activity`` (the writer's
  connection ended: ``close()``, a crash, a lost network), and ``create`` removes such
  dead rows of the scope first, so a dead claim's name can be claimed again. A session
  of another role whose ``backend_start`` this role may not see counts as alive while
  its pid is listed. An ephemeral entry whose writer lives expires, like on every
  store, by the ttl in its payload. This needs a direct (or session-pooled) connection:
  behind a transaction-pooling proxy, pids name the proxy's connections, not ours.

Every statement runs with ``statement_timeout`` set to the module's timeout, and the
connection with ``connect_timeout`` and ``tcp_user_timeout``: a server that stops
answering fails the operation with StoreUnavailable instead of hanging.
"""

from __future__ import annotations

import math
import re
import threading
import traceback
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from ansible_collections.flinkops.flink.plugins.module_utils._records._backend import (
    Backend,
    StoreError,
    StoreUnavailable,
    check_name,
    check_scope,
)
from ansible_collections.flinkops.flink.plugins.module_utils._redact import split_url_credentials

PSYCOPG_IMPORT_ERROR = None
try:
    import psycopg
    from psycopg import errors as pg_errors
except ImportError:  # pragma: no cover - reported by open_backend
    psycopg = None
    pg_errors = None
    PSYCOPG_IMPORT_ERROR = traceback.format_exc()

HAS_PSYCOPG = psycopg is not None

TABLE = "flinkops_records"
DEFAULT_TIMEOUT = 10.0
_SECRET_PARAMS = ("password", "sslpassword")
_SCHEMES = ("postgresql", "postgres")
_SCHEME_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

_CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS " + TABLE + " ("
    " scope text NOT NULL,"
    " name text NOT NULL,"
    " created timestamptz NOT NULL DEFAULT clock_timestamp(),"
    " owner_pid integer,"
    " owner_started timestamptz,"
    " PRIMARY KEY (scope, name))"
)
HEADS = "flinkops_heads"
_CREATE_HEADS = (
    "CREATE TABLE IF NOT EXISTS " + HEADS + " ("
    " scope text PRIMARY KEY,"
    " value text NOT NULL,"
    " version bigint NOT NULL,"
    " moved timestamptz NOT NULL DEFAULT clock_timestamp())"
)
_READ_HEAD = "SELECT value, version FROM " + HEADS + " WHERE scope = %s"
_CREATE_HEAD = ("INSERT INTO " + HEADS + " (scope, value, version) VALUES (%s, %s, 1)"
                " ON CONFLICT DO NOTHING RETURNING version")
_MOVE_HEAD = ("UPDATE " + HEADS + " SET value = %s, version = version + 1, moved = clock_timestamp()"
              " WHERE scope = %s AND version = %s RETURNING version")
# An ephemeral row is alive while its writer's session is listed (same pid, same start).
_ALIVE = ("(r.owner_pid IS NULL OR EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = r.owner_pid"
          " AND (a.backend_start IS NULL OR a.backend_start = r.owner_started)))")
_SELECT = ("SELECT r.name, floor(extract(epoch FROM r.created) * 1000)::bigint FROM " + TABLE
           + " r WHERE r.scope = %s AND " + _ALIVE + " ORDER BY r.created, r.name")
_DELETE_DEAD = "DELETE FROM " + TABLE + " r WHERE r.scope = %s AND r.owner_pid IS NOT NULL AND NOT " + _ALIVE
_INSERT = "INSERT INTO " + TABLE + " (scope, name) VALUES (%s, %s) ON CONFLICT DO NOTHING RETURNING name"
_INSERT_EPHEMERAL = (
    "INSERT INTO " + TABLE + " (scope, name, owner_pid, owner_started)"
    " SELECT %s, %s, pg_backend_pid(), (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid())"
    " ON CONFLICT DO NOTHING RETURNING name"
)
_DELETE = "DELETE FROM " + TABLE + " WHERE scope = %s AND name = ANY(%s)"

# Connection-level failures: nothing is known of the write.
_UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03", "57014", "53", "58")
_REFUSED_TEXT = re.compile(r"password authentication failed|authentication failed|no pg_hba\.conf entry|"
                           r"role \"[^\"]*\" does not exist|password is required|"
                           r"fe_sendauth: no password supplied", re.IGNORECASE)
_UNREACHABLE_TEXT = re.compile(r"Connection refused|timeout expired|timed out|could not translate host name|"
                               r"No route to host|Network is unreachable|server closed the connection|"
                               r"could not connect|Connection reset|the database system is (starting up|"
                               r"shutting down|in recovery mode)|consuming input failed|terminating connection",
                               re.IGNORECASE)


def _split_userinfo(url):
    """``(url without userinfo, user, password)``; also for URLs whose host part is malformed."""
    stripped, user, password = split_url_credentials(url)
    if user is not None or password is not None:
        return stripped, user, password
    scheme = _SCHEME_PREFIX.match(url)
    if not scheme:
        return url, None, None
    rest = url[scheme.end():]
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    at = authority.rfind("@")
    if at < 0:
        return url, None, None
    user, colon, password = authority[:at].partition(":")
    return url[:scheme.end()] + rest[at + 1:], unquote(user) or None, unquote(password) if colon else None


def split_password(url):
    """``(the URL for messages, [secrets])``: the password (userinfo and query) removed, user kept."""
    secrets = []
    stripped, user, password = _split_userinfo(url)
    if password:
        scheme = _SCHEME_PREFIX.match(url)
        if scheme:  # the password as written in the URL (escaped or not)
            userinfo = url[scheme.end():scheme.end() + len(url) - len(stripped) - 1]
            secrets.append(userinfo.partition(":")[2])
        secrets.extend((password, quote(password, safe="")))
    try:
        parts = urlsplit(stripped)
    except ValueError:
        return "postgresql://(unparsable URL)", secrets
    netloc = (quote(user, safe="") + "@" if user else "") + parts.netloc
    query = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in _SECRET_PARAMS:
            if value:
                secrets.append(value)
                secrets.append(quote(value, safe=""))
            value = "********"
        query.append("%s=%s" % (key, value))
    shown = "%s://%s%s%s" % (parts.scheme, netloc, parts.path, "?" + "&".join(query) if query else "")
    return shown, [s for s in secrets if s]


def open_backend(url, timeout):
    """A connected PostgresBackend of ``url`` (its table created when missing)."""
    shown, secrets = split_password(url)
    try:
        parts = urlsplit(_split_userinfo(url)[0])
    except ValueError as exc:
        raise StoreError("state_store %s is not a valid URL (%s)" % (shown, exc))
    if parts.scheme.lower() not in _SCHEMES:
        raise StoreError("state_store %s: not a postgresql:// URL" % shown)
    hostport = parts.netloc
    query_keys = set(key for key, _value in parse_qsl(parts.query, keep_blank_values=True))
    if "," not in hostport:  # libpq's multi-host form (h1:p1,h2:p2) is left to libpq
        try:
            port = parts.port
        except ValueError:
            port = 0
        if port == 0:
            raise StoreError("state_store %s: the port is not a number between 1 and 65535" % shown)
    if not hostport and "host" not in query_keys:
        raise StoreError("state_store %s: the host is missing (postgresql://user:password@host:port/database)"
                         % shown)
    if not parts.path.strip("/"):
        raise StoreError("state_store %s: the database is missing (postgresql://user:password@host:port/database)"
                         % shown)
    if not HAS_PSYCOPG:
        raise StoreError("state_store %s needs the Python library psycopg (version 3) on the host that "
                         "runs the module" % shown)
    backend = PostgresBackend(url, shown, secrets, timeout)
    backend.connect()
    return backend


class PostgresBackend(Backend):
    """Entries as rows of ``flinkops_records`` (see the module docstring)."""

    scheme = "postgresql"

    def __init__(self, url, shown, secrets, timeout=None):
        self._url = url
        self._shown = shown
        self._secrets = sorted(set(secrets), key=len, reverse=True)
        self.timeout = float(timeout or DEFAULT_TIMEOUT)
        self._conn = None
        self._lock = threading.RLock()
        self._table_ready = False

    def describe(self):
        return self._shown

    # ------------------------------------------------------------------ connection

    def connect(self):
        with self._lock:
            if self._conn is not None and not self._conn.closed and not self._conn.broken:
                return self._conn
            self._drop()
            seconds = max(2, int(math.ceil(self.timeout)))
            options = {"connect_timeout": seconds, "fallback_application_name": "flinkops.flink"}
            if psycopg.pq.version() >= 120000:  # libpq 12 added tcp_user_timeout
                options["tcp_user_timeout"] = seconds * 1000
            try:
                conn = psycopg.connect(self._url, autocommit=True, **options)
            except Exception as exc:
                raise self._error("connecting", exc)
            try:
                conn.execute("SELECT set_config('statement_timeout', %s, false)", (str(seconds * 1000),))
                if not self._table_ready:
                    self._ensure_table(conn)
                    self._table_ready = True
            except BaseException as exc:
                try:
                    conn.close()
                except Exception:  # pragma: no cover
                    pass
                if isinstance(exc, Exception):
                    raise self._error("preparing the table %s" % TABLE, exc)
                raise
            self._conn = conn
            return conn

    def _ensure_table(self, conn):
        """Create the tables unless they exist (a role without CREATE can use existing ones)."""
        for table, create in ((TABLE, _CREATE_TABLE), (HEADS, _CREATE_HEADS)):
            if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is not None:
                continue
            try:
                conn.execute(create)
            except (pg_errors.UniqueViolation, pg_errors.DuplicateTable, pg_errors.DuplicateObject):
                pass  # a concurrent first run created it

    def _drop(self):
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # pragma: no cover - closing never matters
                pass

    def close(self):
        with self._lock:
            self._drop()

    def _execute(self, operation, query, params):
        """Rows of ``query`` (or None), on a connection made anew if the last one broke."""
        with self._lock:
            conn = self.connect()
            try:
                cursor = conn.execute(query, params)
                return cursor.fetchall() if cursor.description is not None else None
            except Exception as exc:
                if conn.broken or conn.closed:
                    self._drop()
                raise self._error(operation, exc)

    # ------------------------------------------------------------------ operations

    def entries(self, scope):
        check_scope(scope)
        rows = self._execute("listing scope %s" % scope, _SELECT, (scope,))
        return [{"id": name, "name": name, "uploaded": int(uploaded)} for name, uploaded in rows]

    def create(self, scope, name, ephemeral=False):
        return self._create(scope, name, ephemeral)[0]

    def _create(self, scope, name, ephemeral=False):
        """``(id, new)``: ``new`` is True when this call inserted the row."""
        check_scope(scope)
        check_name(name)
        operation = "creating %s in scope %s" % (name, scope)
        with self._lock:
            self._execute(operation, _DELETE_DEAD, (scope,))
            rows = self._execute(operation, _INSERT_EPHEMERAL if ephemeral else _INSERT, (scope, name))
        return name, bool(rows)

    def read_head(self, scope):
        rows = self._execute("reading the head of scope %s" % check_scope(scope), _READ_HEAD, (scope,))
        return (rows[0][0], int(rows[0][1])) if rows else (None, None)

    def swap_head(self, scope, expected, value):
        operation = "moving the head of scope %s" % check_scope(scope)
        if expected is None:
            rows = self._execute(operation, _CREATE_HEAD, (scope, value))
        else:
            rows = self._execute(operation, _MOVE_HEAD, (value, scope, int(expected)))
        return bool(rows)

    def delete(self, scope, ids):
        check_scope(scope)
        names = [check_name(i) for i in ids]
        if not names:
            return
        self._execute("deleting %d entr%s in scope %s" % (len(names), "y" if len(names) == 1 else "ies", scope),
                      _DELETE, (scope, names))

    # ------------------------------------------------------------------ errors

    def _scrub(self, text):
        text = str(text)
        for secret in self._secrets:
            if len(secret) >= 3:
                text = text.replace(secret, "********")
        return text

    def _error(self, operation, exc):
        """The StoreError (or StoreUnavailable) for psycopg's ``exc``; never holds the password."""
        if isinstance(exc, StoreError):
            return exc
        where = "state_store %s: %s" % (self._shown, operation)
        text = self._scrub(str(exc).strip())
        sqlstate = getattr(exc, "sqlstate", None) or ""
        cause = "%s: %s" % (type(exc).__name__, text.replace("\n\t", " ").replace("\n", " "))
        if sqlstate.startswith("28") or (not sqlstate and _REFUSED_TEXT.search(text)):
            return StoreError("%s failed: the server refused the user or password (check the user and "
                              "password of the state_store URL, PGPASSWORD or ~/.pgpass)" % where, cause=cause)
        if sqlstate == "3D000" or (not sqlstate and re.search(r"database \"[^\"]*\" does not exist", text)):
            return StoreError("%s failed: the database does not exist (create it first)" % where, cause=cause)
        if sqlstate == "42501":
            return StoreError("%s failed: the role lacks a privilege on the table %s (or to create it)"
                              % (where, TABLE), cause=cause)
        if sqlstate.startswith(_UNAVAILABLE_STATES):
            return StoreUnavailable("%s failed: the server could not be reached or answered too late "
                                    "(timeout %.0f s)" % (where, self.timeout), cause=cause)
        if psycopg is not None and isinstance(exc, psycopg.OperationalError) and (
                not sqlstate or _UNREACHABLE_TEXT.search(text)):
            return StoreUnavailable("%s failed: the server could not be reached or answered too late "
                                    "(timeout %.0f s)" % (where, self.timeout), cause=cause)
        return StoreError("%s failed" % where, cause=cause)
