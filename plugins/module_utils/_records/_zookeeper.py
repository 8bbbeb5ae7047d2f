# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""The records backend on ZooKeeper (``state_store=zookeeper://...``), through kazoo.

URL::

    zookeeper://[user:password@]host[:port][,host[:port]...][/chroot][?session_timeout=SECONDS]

- hosts: the ensemble (port 2181 when left out; ``[::1]:2181`` for IPv6);
- ``user:password`` (percent-encoded): ZooKeeper ``digest`` authentication. The
  znodes this backend creates then carry a digest ACL granting everything to
  that identity only: other clients (and other passwords) can neither read nor
  change them, and get a ``StoreError`` saying they are not authorized;
- chroot: the path under which everything lives, default ``/flinkops``;
- ``session_timeout``: the ZooKeeper session timeout asked for, in seconds
  (default 10). The server clamps it to ``[2, 20] x tickTime`` (4-40 s with
  the usual ``tickTime=2000``); ``session_timeout`` (the attribute) holds the
  negotiated value once connected.

Layout: ``<chroot>/<scope>/<name>``, one znode per entry, with empty data.
The entry id is its name; ``uploaded`` is the znode's ``ctime``, stamped by the
ZooKeeper server (milliseconds on the store's clock).

- ``create`` is ZooKeeper's own atomic create; ``NodeExistsError`` means the
  entry is already there (another writer, or an earlier try of ours whose
  answer was lost) and its id is returned.
- ``entries`` lists the children, then asks for every child's stat with
  kazoo's asynchronous API: all requests go out at once on the one connection
  (pipelined), so a scope of hundreds of entries costs about one round trip,
  not hundreds. A child deleted between the listing and its stat is skipped.
- the scope's head (``read_head``/``swap_head``): the data of the znode
  ``<chroot>/<scope>.head``, beside the scope's entries; its token is the znode's
  version. Created with ZooKeeper's atomic create (``NodeExistsError``: another writer
  won), replaced with ``set(version=token)`` (``BadVersionError``: another writer won).
- ``ephemeral=True`` creates an ephemeral znode, tied to this backend's
  ZooKeeper session: it disappears when ``close()`` is called, and when the
  process that created it dies (killed, host lost, network cut) the server
  removes it by itself once the session times out (``session_timeout`` after
  the last heartbeat). That is the point: a killed deployment's claim is freed
  by ZooKeeper, nobody has to clean it up. The flip side: if this backend's
  session expires mid-run (e.g. a long network partition), its ephemeral
  entries are gone, so every later call raises ``StoreUnavailable``.

Failures: an ensemble that cannot be reached within ``timeout`` (connecting,
or answering a request) raises ``StoreUnavailable`` naming the hosts (never the
password); refused authentication or a missing permission raises
``StoreError``; a lost (expired) session raises ``StoreUnavailable``.

kazoo is only needed on the host that runs the module (the import is guarded:
``HAS_KAZOO``). kazoo logs through the ``kazoo`` logger; this backend gives its
client a logger that never prints, so nothing reaches a module's stdout/stderr.
"""

from __future__ import annotations

import logging
import re
import threading
import time

from urllib.parse import parse_qsl, quote, unquote

try:
    from kazoo.client import KazooClient, KazooState
    from kazoo.exceptions import (
        AuthFailedError,
        ConnectionClosedError,
        ConnectionLoss,
        KazooException,
        NoAuthError,
        BadVersionError,
        NodeExistsError,
        NoNodeError,
        OperationTimeoutError,
        SessionExpiredError,
    )
    from kazoo.protocol.states import KeeperState
    from kazoo.security import make_digest_acl
    HAS_KAZOO = True
    KAZOO_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the host
    HAS_KAZOO = False
    KAZOO_IMPORT_ERROR = exc

from ansible_collections.flinkops.flink.plugins.module_utils._records._backend import (
    Backend,
    StoreError,
    StoreUnavailable,
    check_name,
    check_scope,
)

SCHEME = "zookeeper"
DEFAULT_PORT = 2181
DEFAULT_CHROOT = "/flinkops"
DEFAULT_SESSION_TIMEOUT = 10.0
# Entry names: what the record code writes. "." and ".." are not valid znode names.
_SEGMENT = re.compile(r"^[A-Za-z0-9._-]{1,255}$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9._-]+$")

# kazoo's own module loggers ("kazoo.client", "kazoo.protocol.connection", ...):
# with a handler attached to "kazoo", Python's last-resort handler (which
# writes warnings to stderr when no handler exists) is never used for them.
_LOGGER_NAME = "kazoo.flinkops"


def _quiet_logger():
    kazoo_log = logging.getLogger("kazoo")
    if not any(isinstance(h, logging.NullHandler) for h in kazoo_log.handlers):
        kazoo_log.addHandler(logging.NullHandler())
    logger = logging.getLogger(_LOGGER_NAME)
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    # Only this client's logger: quiet, never propagated to handlers an embedding
    # program may have on the root logger (a module prints JSON on stdout).
    logger.propagate = False
    logger.setLevel(logging.CRITICAL + 1)
    return logger


def _fail(url_shown, msg):
    raise StoreError("invalid ZooKeeper state store URL %s: %s" % (url_shown, msg))


def _split_hosts(text, shown):
    hosts = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            _fail(shown, "empty host in the host list")
        if item.startswith("["):
            end = item.find("]")
            if end < 0:
                _fail(shown, "unterminated IPv6 address %r" % item)
            host, rest = item[:end + 1], item[end + 1:]
            if rest and not rest.startswith(":"):
                _fail(shown, "bad host %r" % item)
            port = rest[1:] if rest else None
        else:
            host, sep, port = item.partition(":")
            if not sep:
                port = None
            if not host or not _HOSTNAME.match(host):
                _fail(shown, "bad host %r" % item)
        if port is None:
            port_num = DEFAULT_PORT
        else:
            if not port.isdigit() or not 0 < int(port) < 65536:
                _fail(shown, "bad port %r in %r (want 1-65535)" % (port, item))
            port_num = int(port)
        hosts.append("%s:%d" % (host, port_num))
    return hosts


def parse_url(url):
    """Split a ``zookeeper://`` URL into its parts (a dict); raise ``StoreError``
    for a malformed one. The password never appears in an error message."""
    text = str(url or "")
    scheme, sep, rest = text.partition("://")
    shown_rest = rest
    if "@" in rest.split("/", 1)[0]:
        shown_rest = "***@" + rest.split("@", 1)[1]
    shown = "%s://%s" % (scheme, shown_rest) if sep else repr("***" if "@" in text else text)
    if not sep or scheme.lower() != SCHEME:
        _fail(shown, "want zookeeper://[user:password@]host:port[,host:port...][/chroot]")
    rest, _sep, query = rest.partition("?")
    if "#" in query or "#" in rest:
        _fail(shown, "fragments (#) are not supported")
    netloc, slash, path = rest.partition("/")
    user = password = None
    if "@" in netloc:
        cred, netloc = netloc.rsplit("@", 1)
        user, colon, password = cred.partition(":")
        user = unquote(user)
        password = unquote(password) if colon else None
        if not user or password is None:
            _fail(shown, "credentials must be user:password")
    if not netloc:
        _fail(shown, "no host: want zookeeper://host:port[,host:port...][/chroot]")
    hosts = _split_hosts(netloc, shown)
    segments = [s for s in path.split("/") if s]
    for seg in segments:
        if not _SEGMENT.match(seg) or seg in (".", ".."):
            _fail(shown, "bad chroot path segment %r (want [A-Za-z0-9._-])" % seg)
    if segments and segments[0] == "zookeeper":
        _fail(shown, "/zookeeper is reserved by ZooKeeper")
    chroot = "/" + "/".join(segments) if segments else DEFAULT_CHROOT
    session_timeout = DEFAULT_SESSION_TIMEOUT
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == "session_timeout":
            try:
                session_timeout = float(value)
            except ValueError:
                session_timeout = -1.0
            if not 0 < session_timeout <= 600:
                _fail(shown, "session_timeout must be a number of seconds in (0, 600], got %r" % value)
        else:
            _fail(shown, "unknown parameter %r (known: session_timeout)" % key)
    return {
        "hosts": hosts,
        "user": user,
        "password": password,
        "chroot": chroot,
        "session_timeout": session_timeout,
    }


class ZooKeeperBackend(Backend):
    """Records as znodes ``<chroot>/<scope>/<name>`` (see the module docstring)."""

    scheme = SCHEME

    def __init__(self, hosts, chroot=DEFAULT_CHROOT, user=None, password=None,
                 session_timeout=DEFAULT_SESSION_TIMEOUT, timeout=10.0):
        if not HAS_KAZOO:
            raise StoreError(
                "the ZooKeeper state store needs the Python library kazoo on the host that runs "
                "the module (pip install kazoo): %s" % (KAZOO_IMPORT_ERROR,))
        self.hosts = list(hosts)
        self.chroot = chroot.rstrip("/") or DEFAULT_CHROOT
        self.user = user
        self.timeout = float(timeout)
        self.requested_session_timeout = float(session_timeout)
        self._lock = threading.Lock()
        self._lost = False
        self._closed = False
        self._connected_once = False
        auth_data = None
        default_acl = None
        if user is not None:
            credential = "%s:%s" % (user, password or "")
            auth_data = [("digest", credential)]
            default_acl = [make_digest_acl(user, password or "", all=True)]
        self._client = KazooClient(
            hosts=",".join(self.hosts),
            timeout=self.requested_session_timeout,
            auth_data=auth_data,
            default_acl=default_acl,
            logger=_quiet_logger(),
        )
        self._client.add_listener(self._on_state)
        self._start()

    # -- connection -----------------------------------------------------------

    def describe(self):
        auth = "%s@" % quote(self.user, safe="") if self.user is not None else ""
        return "%s://%s%s%s" % (SCHEME, auth, ",".join(self.hosts), self.chroot)

    @property
    def session_timeout(self):
        """The session timeout the server granted, in seconds (None before connecting)."""
        negotiated = getattr(self._client, "_session_timeout", None)
        return negotiated / 1000.0 if negotiated else None

    def _on_state(self, state):
        # Called on kazoo's thread: only set flags here.
        if state == KazooState.LOST and self._connected_once and not self._closed:
            self._lost = True

    def _start(self):
        client = self._client
        deadline = time.monotonic() + self.timeout
        live = client.start_async()
        while not live.wait(0.05):
            if client.client_state == KeeperState.AUTH_FAILED:
                self._shutdown()
                raise StoreError("ZooKeeper state store %s refused the authentication of user %r"
                                 % (self.describe(), self.user))
            if time.monotonic() >= deadline:
                self._shutdown()
                raise StoreUnavailable(
                    "ZooKeeper state store %s: could not connect to %s within %ss"
                    % (self.describe(), ",".join(self.hosts), _secs(self.timeout)))
        self._connected_once = True

    def _shutdown(self):
        self._closed = True
        try:
            self._client.stop()
        except Exception:  # pylint: disable=broad-except
            pass
        try:
            self._client.close()
        except Exception:  # pylint: disable=broad-except
            pass

    def close(self):
        with self._lock:
            if self._closed:
                return
            self._shutdown()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- requests -------------------------------------------------------------

    def _path(self, scope, name=None):
        path = "%s/%s" % (self.chroot, check_scope(scope))
        if name is not None:
            path += "/" + check_name(name)
        return path

    def _id_path(self, scope, entry_id):
        # Ids come from entries(): a znode someone else created may carry a name this
        # backend would not write, and must still be deletable; only path tricks are refused.
        if not isinstance(entry_id, str) or not entry_id or "/" in entry_id or entry_id in (".", ".."):
            raise ValueError("invalid record id %r" % (entry_id,))
        return "%s/%s" % (self._path(scope), entry_id)

    def _ready(self, what):
        if self._closed:
            raise StoreError("ZooKeeper state store %s: %s after close()" % (self.describe(), what))
        if self._lost:
            raise StoreUnavailable(
                "ZooKeeper state store %s: %s: the ZooKeeper session was lost (expired); "
                "its ephemeral entries are gone" % (self.describe(), what))

    def _wait(self, what, deadline, start_call, results_of):
        """Run ``start_call()`` (sends requests, returns async results), collect them with
        ``results_of(asyncs)``; retry on connection loss until ``deadline``."""
        last = None
        while True:
            self._ready(what)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StoreUnavailable(
                    "ZooKeeper state store %s: %s: no answer from %s within %ss%s"
                    % (self.describe(), what, ",".join(self.hosts), _secs(self.timeout),
                       " (%s)" % _exc_text(last) if last else ""))
            if not self._client.connected:
                # Suspended: kazoo reconnects (same session) by itself; wait for it.
                time.sleep(min(0.05, remaining))
                last = last or ConnectionLoss("not connected")
                continue
            try:
                return results_of(start_call(), deadline)
            except (ConnectionLoss, OperationTimeoutError, ConnectionClosedError) as exc:
                last = exc
                time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
            except SessionExpiredError as exc:
                self._lost = True
                raise StoreUnavailable(
                    "ZooKeeper state store %s: %s: the ZooKeeper session was lost (%s); "
                    "its ephemeral entries are gone" % (self.describe(), what, _exc_text(exc)))
            except (AuthFailedError, NoAuthError) as exc:
                raise StoreError(
                    "ZooKeeper state store %s: %s: not authorized (%s)%s"
                    % (self.describe(), what, _exc_text(exc),
                       "" if self.user is not None else "; the store may need user:password@ in its URL"))
            except self._client.handler.timeout_exception:
                last = OperationTimeoutError("no answer")
            except KazooException as exc:
                raise StoreError("ZooKeeper state store %s: %s failed: %s"
                                 % (self.describe(), what, _exc_text(exc)))

    def _get(self, async_result, deadline):
        return async_result.get(timeout=max(0.001, deadline - time.monotonic()))

    def entries(self, scope):
        path = self._path(scope)
        what = "listing %s" % path
        deadline = time.monotonic() + self.timeout

        def results(children_async, deadline):
            try:
                children = self._get(children_async, deadline)
            except NoNodeError:
                return []
            stats = [(name, self._client.exists_async("%s/%s" % (path, name))) for name in children]
            out = []
            for name, stat_async in stats:
                stat = self._get(stat_async, deadline)
                if stat is None:  # deleted since the listing
                    continue
                out.append({"id": name, "name": name, "uploaded": int(stat.ctime)})
            out.sort(key=lambda e: (e["uploaded"], e["name"]))
            return out

        return self._wait(what, deadline, lambda: self._client.get_children_async(path), results)

    def create(self, scope, name, ephemeral=False):
        path = self._path(scope, name)
        what = "creating %s%s" % (path, " (ephemeral)" if ephemeral else "")
        deadline = time.monotonic() + self.timeout

        def results(create_async, deadline):
            try:
                self._get(create_async, deadline)
            except NodeExistsError:
                pass
            return name

        return self._wait(
            what, deadline,
            lambda: self._client.create_async(path, b"", ephemeral=ephemeral, makepath=True),
            results)

    def _head_path(self, scope):
        return self._path(scope) + ".head"

    def read_head(self, scope):
        path = self._head_path(scope)
        deadline = time.monotonic() + self.timeout

        def results(get_async, deadline):
            try:
                data, stat = self._get(get_async, deadline)
            except NoNodeError:
                return None, None
            return data.decode("utf-8"), stat.version

        return self._wait("reading %s" % path, deadline, lambda: self._client.get_async(path), results)

    def swap_head(self, scope, expected, value):
        path = self._head_path(scope)
        data = value.encode("utf-8")
        deadline = time.monotonic() + self.timeout

        def results(write_async, deadline):
            try:
                self._get(write_async, deadline)
            except (NodeExistsError, BadVersionError, NoNodeError):
                return False
            return True

        def start():
            if expected is None:
                return self._client.create_async(path, data, makepath=True)
            return self._client.set_async(path, data, version=int(expected))

        # A retry after a lost answer can find its own write done and answer False: the
        # caller re-reads the head and sees its own value (``_head``).
        return self._wait("moving %s" % path, deadline, start, results)

    def delete(self, scope, ids):
        paths = [self._id_path(scope, i) for i in ids]
        if not paths:
            return
        what = "deleting %d entr%s in %s" % (len(paths), "y" if len(paths) == 1 else "ies", self._path(scope))
        deadline = time.monotonic() + self.timeout

        def results(asyncs, deadline):
            for delete_async in asyncs:
                try:
                    self._get(delete_async, deadline)
                except NoNodeError:
                    pass

        self._wait(what, deadline, lambda: [self._client.delete_async(p) for p in paths], results)


def _secs(value):
    return ("%g" % value)


def _exc_text(exc):
    text = str(exc)
    return "%s: %s" % (type(exc).__name__, text) if text else type(exc).__name__


def open_backend(url, timeout=10.0):
    """A connected ``ZooKeeperBackend`` for a ``zookeeper://`` URL (see the module docstring);
    ``timeout`` (seconds) bounds connecting and each request."""
    parts = parse_url(url)
    if not HAS_KAZOO:
        raise StoreError(
            "the ZooKeeper state store needs the Python library kazoo on the host that runs "
            "the module (pip install kazoo): %s" % (KAZOO_IMPORT_ERROR,))
    return ZooKeeperBackend(
        parts["hosts"], chroot=parts["chroot"], user=parts["user"], password=parts["password"],
        session_timeout=parts["session_timeout"], timeout=timeout)
