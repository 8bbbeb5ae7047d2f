# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A loopback HTTP proxy in front of Flink that breaks chosen requests on purpose.

Rules match ``METHOD path-regex`` and say what to do: ``hold`` (never answer,
never forward), ``status:503``, ``reset`` (close the connection), ``stall:S``
(wait S seconds, then forward), ``lose`` (forward, then close the connection
without answering: the request took effect but its answer is lost), ``forward``
(forward unchanged), ``zip-closed[:status]`` (answer 500, or the status given, as Flink does
when another request closed the JAR this one read), ``pending:S`` (for S seconds from the
rule's first match, answer that an asynchronous operation is IN_PROGRESS, then forward: a slow
savepoint as the client sees it). ``times`` limits how often a rule fires; ``hook`` (a callable)
runs when the rule fires, after the request was forwarded (``lose``/``forward``)
or before anything else.

Every request is recorded in ``seen`` as (method, path with query): without rules the proxy
only counts (the benchmarks' REST request counts).
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


# Flink's answer (2.3) to a plan or run whose JAR another request's class loader closed.
ZIP_CLOSED = json.dumps({"errors": [
    "Internal server error.",
    "<Exception on server side:\norg.apache.flink.client.program.ProgramInvocationException: The main "
    "method caused an error: ZipFile closed\n\tat org.apache.flink.client.program.PackagedProgram."
    "callMainMethod(PackagedProgram.java:376)\nCaused by: java.util.zip.ZipException: ZipFile closed\n"
    "\nEnd of exception on server side>"]}).encode()


class Rule:
    def __init__(self, method, path, action, times=None, hook=None):
        self.hook = hook
        self.method = method
        self.path = re.compile(path)
        self.action = action
        self.times = times
        self.fired = 0
        self.first_at = None

    def matches(self, method, path):
        if self.times is not None and self.fired >= self.times:
            return False
        return self.method in ("*", method) and bool(self.path.search(path))


class FaultProxy:
    def __init__(self, upstream):
        self.upstream = upstream.rstrip("/")
        self.rules = []
        self.seen = []
        self.released = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                proxy.seen.append((self.command, self.path))
                lose = False
                hook = None
                for rule in proxy.rules:
                    if rule.matches(self.command, self.path):
                        rule.fired += 1
                        if rule.action in ("lose", "forward"):
                            lose = rule.action == "lose"
                            hook = rule.hook
                            break
                        if rule.hook is not None:
                            rule.hook()
                        if rule.action == "hold":
                            proxy.released.wait(600)
                            self.close_connection = True
                            return
                        if rule.action == "reset":
                            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                                       b"\x01\x00\x00\x00\x00\x00\x00\x00")
                            self.close_connection = True
                            return
                        if rule.action.startswith("status:"):
                            self._answer(int(rule.action.split(":")[1]),
                                         b'{"errors": ["injected by flinkops fault proxy"]}')
                            return
                        if rule.action.startswith("zip-closed"):  # "zip-closed[:status]"
                            self._answer(int((rule.action.split(":") + ["500"])[1]), ZIP_CLOSED)
                            return
                        if rule.action.startswith("pending:"):
                            rule.first_at = rule.first_at or time.monotonic()
                            if time.monotonic() - rule.first_at < float(rule.action.split(":")[1]):
                                self._answer(200, b'{"status": {"id": "IN_PROGRESS"}}')
                                return
                            break
                        if rule.action.startswith("stall:"):
                            time.sleep(float(rule.action.split(":")[1]))
                        break
                headers = dict((k, v) for k, v in self.headers.items()
                               if k.lower() not in ("host", "content-length", "connection"))
                answer = requests.request(self.command, proxy.upstream + self.path, data=body,
                                          headers=headers, timeout=120)
                if hook is not None:
                    hook()
                if lose:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self.close_connection = True
                    return
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("Content-Type",
                                                                    "application/json"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def _answer(self, status, payload):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        # a short poll interval: leaving the with block (shutdown) takes 50 ms, not 500
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def add(self, method, path, action, times=None, hook=None):
        rule = Rule(method, path, action, times, hook)
        self.rules.append(rule)
        return rule

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
