# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""bench/wire.py, the store part's counting TCP proxy: its message parsers and round-trip count."""

from __future__ import annotations

import importlib.util
import socket
import struct
import threading
from pathlib import Path

SPEC = importlib.util.spec_from_file_location("bench_wire", Path(__file__).resolve().parents[2] / "bench" / "wire.py")
wire = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(wire)


def frames(parse, data):
    state, kinds = {}, []
    while True:
        used, found = parse(data, state)
        if not used:
            return kinds, data
        data, kinds = data[used:], kinds + found


def zk_frame(xid, op_type, body=b""):
    payload = struct.pack(">ii", xid, op_type) + body
    return struct.pack(">i", len(payload)) + payload


def test_zookeeper_frames_connect_then_requests_and_a_partial_one_waits():
    connect = struct.pack(">i", 4) + b"\0" * 4
    kinds, rest = frames(wire.parse_zookeeper, connect + zk_frame(1, 8, b"/x") + zk_frame(-2, 11) + zk_frame(2, 3)[:6])
    assert kinds == ["connect", "getChildren", "ping"] and len(rest) == 6


def test_postgresql_untyped_start_then_typed_messages():
    ssl = struct.pack(">ii", 8, wire.PG_SSL_REQUEST)
    startup = struct.pack(">ii", 12, 196608) + b"u\0\0\0"
    query = b"Q" + struct.pack(">i", 4 + 9) + b"SELECT 1\0"
    kinds, rest = frames(wire.parse_postgresql, ssl + startup + query + b"S" + struct.pack(">i", 4))
    assert kinds == ["ssl-request", "startup", "query", "sync"] and rest == b""


def test_http_requests_with_a_body_and_lists():
    put = b"PUT /bucket/p/job-1/name HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
    get = b"GET /bucket?list-type=2&prefix=p%2F HTTP/1.1\r\nHost: x\r\n\r\n"
    kinds, rest = frames(wire.parse_http, put + get + b"GET /bucket/p")
    assert kinds == ["PUT object", "GET list"] and rest == b"GET /bucket/p"


def test_the_proxy_forwards_and_counts_pipelined_requests_as_one_round_trip():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def answer():
        conn, _peer = server.accept()
        received = b""
        while len(received) < 8 + 2 * 12:  # the connect frame, then two requests
            received += conn.recv(4096)
        conn.sendall(b"ok")
        conn.recv(4096)
        conn.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    with wire.CountingProxy("127.0.0.1", server.getsockname()[1], "zookeeper") as proxy:
        client = socket.create_connection(("127.0.0.1", proxy.port))
        client.sendall(struct.pack(">i", 4) + b"\0" * 4 + zk_frame(1, 8) + zk_frame(2, 3))
        assert client.recv(16) == b"ok"
        client.close()
        thread.join(10)
        snapshot = proxy.snapshot()
    server.close()
    assert snapshot["connections"] == 1
    assert snapshot["ops"] == {"connect": 1, "getChildren": 1, "exists": 1}
    assert snapshot["round_trips"] == 1
