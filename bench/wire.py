# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A counting TCP proxy on loopback, for the store part of `make bench` (bench/store.py).

It forwards bytes unchanged both ways (so an S3 request's signature, made for the proxy's
``Host``, still verifies) and counts, per run:

- ``round_trips``: the times a client sent a request after the server had last spoken (or
  first on its connection): requests sent together (pipelined, as kazoo does) are one round trip;
- ``ops``: the client's messages by kind, read from the wire by a small parser per protocol:
  HTTP requests (S3), ZooKeeper frames, PostgreSQL frontend messages;
- ``connections``.

Messages that are not requests (a ZooKeeper ping, PostgreSQL's Terminate) are counted in
``ops`` but start no round trip.
"""

from __future__ import annotations

import collections
import re
import socket
import struct
import threading

# ZooKeeper request types (org.apache.zookeeper.ZooDefs.OpCode)
ZK_OPS = {0: "notification", 1: "create", 2: "delete", 3: "exists", 4: "getData", 5: "setData", 6: "getACL",
          7: "setACL", 8: "getChildren", 9: "sync", 11: "ping", 12: "getChildren2", 13: "check", 14: "multi",
          15: "create2", 16: "reconfig", 19: "createContainer", 20: "deleteContainer", 21: "createTTL",
          22: "multiRead", 100: "auth", 101: "setWatches", 102: "sasl", 105: "setWatches2", -10: "createSession",
          -11: "closeSession"}
# PostgreSQL frontend message types
PG_OPS = {b"Q": "query", b"P": "parse", b"B": "bind", b"E": "execute", b"S": "sync", b"D": "describe",
          b"C": "close", b"H": "flush", b"p": "auth", b"X": "terminate", b"d": "copy-data", b"c": "copy-done",
          b"f": "copy-fail", b"F": "function-call"}
PG_SSL_REQUEST, PG_GSS_REQUEST = 80877103, 80877104
NOT_A_REQUEST = ("ping", "terminate")
HTTP_HEAD = re.compile(rb"^([A-Z]+) (\S+) HTTP/1\.[01]\r\n(.*?)\r\n\r\n", re.S)
CONTENT_LENGTH = re.compile(rb"^content-length:\s*(\d+)\s*$", re.I | re.M)


def parse_http(buf, _state):
    """(bytes used, [kind]) of the complete HTTP requests at the start of ``buf``."""
    match = HTTP_HEAD.match(buf)
    if not match:
        return 0, []
    length = CONTENT_LENGTH.search(match.group(3))
    end = match.end() + (int(length.group(1)) if length else 0)
    if len(buf) < end:
        return 0, []
    path, _sep, query = match.group(2).decode("latin-1").partition("?")
    kind = "list" if "list-type" in query or path.rstrip("/").count("/") <= 1 else "object"
    return end, ["%s %s" % (match.group(1).decode("ascii"), kind)]


def parse_zookeeper(buf, state):
    """One length-prefixed ZooKeeper frame: the first of a connection is its ConnectRequest."""
    if len(buf) < 4:
        return 0, []
    length = struct.unpack(">i", buf[:4])[0]
    if len(buf) < 4 + length:
        return 0, []
    if not state.get("connected"):
        state["connected"] = True
        return 4 + length, ["connect"]
    op_type = struct.unpack(">i", buf[8:12])[0] if length >= 8 else None
    return 4 + length, [ZK_OPS.get(op_type, "op-%s" % op_type)]


def parse_postgresql(buf, state):
    """One PostgreSQL frontend message: untyped until the StartupMessage, typed after."""
    if not state.get("started"):
        if len(buf) < 8:
            return 0, []
        length, code = struct.unpack(">ii", buf[:8])
        if len(buf) < length:
            return 0, []
        if code == PG_SSL_REQUEST:
            return length, ["ssl-request"]
        if code == PG_GSS_REQUEST:
            return length, ["gss-request"]
        state["started"] = True
        return length, ["startup"]
    if len(buf) < 5:
        return 0, []
    length = struct.unpack(">i", buf[1:5])[0]
    if len(buf) < 1 + length:
        return 0, []
    return 1 + length, [PG_OPS.get(buf[:1], "msg-%r" % buf[:1])]


PARSERS = {"s3": parse_http, "zookeeper": parse_zookeeper, "postgresql": parse_postgresql}


class CountingProxy:
    """``with CountingProxy("127.0.0.1", port, "zookeeper") as proxy:`` point the client at
    ``proxy.address``; then read ``proxy.round_trips``, ``proxy.ops``, ``proxy.connections``."""

    def __init__(self, host, port, protocol):
        self.upstream = (host, port)
        self.parse = PARSERS[protocol]
        self.lock = threading.Lock()
        self.round_trips = 0
        self.connections = 0
        self.ops = collections.Counter()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.address = "127.0.0.1:%d" % self.port
        self.closing = threading.Event()
        self.sockets = []
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def reset(self):
        with self.lock:
            self.round_trips = 0
            self.connections = 0
            self.ops = collections.Counter()

    def snapshot(self):
        with self.lock:
            return {"round_trips": self.round_trips, "connections": self.connections, "ops": dict(self.ops)}

    def _accept(self):
        while not self.closing.is_set():
            try:
                client, _peer = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=30)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            conn = {"server_spoke": True, "state": {}}
            with self.lock:
                self.connections += 1
                self.sockets += [client, server]
            threading.Thread(target=self._client_to_server, args=(client, server, conn), daemon=True).start()
            threading.Thread(target=self._server_to_client, args=(server, client, conn), daemon=True).start()

    def _client_to_server(self, client, server, conn):
        buf = b""
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                buf += data
                kinds = []
                while True:
                    used, found = self.parse(buf, conn["state"])
                    if not used:
                        break
                    buf = buf[used:]
                    kinds += found
                with self.lock:
                    self.ops.update(kinds)
                    if conn["server_spoke"] and any(kind not in NOT_A_REQUEST for kind in kinds):
                        self.round_trips += 1
                        conn["server_spoke"] = False
                server.sendall(data)
        except OSError:
            pass
        finally:
            _shut(server)

    def _server_to_client(self, server, client, conn):
        try:
            while True:
                data = server.recv(65536)
                if not data:
                    break
                with self.lock:
                    conn["server_spoke"] = True
                client.sendall(data)
        except OSError:
            pass
        finally:
            _shut(client)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.closing.set()
        self.listener.close()
        with self.lock:
            for sock in self.sockets:
                _shut(sock)
                sock.close()


def _shut(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
