# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A single-node ZooKeeper server for tests, from the Flink distribution alone.

``flink-dist`` carries a shaded ZooKeeper server; ``bin/zookeeper.sh start 1`` runs it
(``FlinkZooKeeperQuorumPeer``) from ``$FLINK_CONF_DIR/zoo.cfg``. Each instance gets its own
conf, data, log and pid dirs under ``base_dir``, so several can run side by side.

    with ZooKeeperServer(provision("2.3"), Path(tmp)) as zk:
        zk.address      # "127.0.0.1:PORT", for high-availability.zookeeper.quorum or kazoo
        zk.port

Stdlib only. ``stop()`` ends the process this object started, by its pid (SIGTERM, then
SIGKILL); it never looks for processes by name.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from flinkops_devkit.flinkctl import (_flatten_yaml, _pid_alive, _pid_cmdline, daemon_pid, free_port,
                                      with_test_java_env, with_test_jvm_opts)

__all__ = ["ZooKeeperServer", "ZooKeeperError", "four_letter_word"]

_RUNNING: "list[ZooKeeperServer]" = []
_LOCK = threading.Lock()


class ZooKeeperError(RuntimeError):
    pass


def four_letter_word(host: str, port: int, word: str = "srvr", timeout: float = 2.0) -> str:
    """Send a ZooKeeper four-letter command and return the answer ('' if the connection fails)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(word.encode())
            chunks = []
            while True:
                data = s.recv(4096)
                if not data:
                    break
                chunks.append(data)
            return b"".join(chunks).decode("utf-8", "replace")
    except OSError:
        return ""


def _atexit_stop_all() -> None:
    with _LOCK:
        servers = list(_RUNNING)
    for zk in servers:
        with contextlib.suppress(Exception):
            zk.stop()


atexit.register(_atexit_stop_all)


class ZooKeeperServer:
    """The ZooKeeper server shipped in Flink ``flink_home``, standalone, on 127.0.0.1."""

    def __init__(self, flink_home: Path, base_dir: Path, port: int | None = None, heap_mb: int = 128):
        self.flink_home = Path(flink_home)
        self.base_dir = Path(base_dir).resolve()
        self.port: int | None = port
        self.heap_mb = int(heap_mb)
        self.pid: int | None = None
        self.start_seconds: float | None = None

    # ---- paths
    @property
    def conf_dir(self) -> Path:
        return self.base_dir / "conf"

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def log_dir(self) -> Path:
        return self.base_dir / "log"

    @property
    def pid_dir(self) -> Path:
        return self.base_dir / "pids"

    @property
    def address(self) -> str:
        if self.port is None:
            raise ZooKeeperError("ZooKeeper port not chosen yet: call start() first")
        return f"127.0.0.1:{self.port}"

    # ---- config
    def _write_conf(self, peer_port: int, election_port: int) -> None:
        if self.conf_dir.exists():
            shutil.rmtree(self.conf_dir)
        self.conf_dir.mkdir(parents=True)
        shipped = None
        for name in ("config.yaml", "flink-conf.yaml"):
            if (self.flink_home / "conf" / name).exists():
                shipped = name
                break
        if shipped is None:
            raise ZooKeeperError(f"no config.yaml / flink-conf.yaml in {self.flink_home}/conf")
        # zookeeper.sh reads the Flink config (java opts, log and pid dirs) through config.sh.
        conf = _flatten_yaml((self.flink_home / "conf" / shipped).read_text())
        conf.update({"env.pid.dir": str(self.pid_dir), "env.log.dir": str(self.log_dir),
                     "zookeeper.heap.mb": str(self.heap_mb),
                     "env.java.opts.all": with_test_jvm_opts(conf.get("env.java.opts.all", ""))})
        (self.conf_dir / shipped).write_text("".join(f"{k}: {v}\n" for k, v in conf.items()))
        for name in ("log4j.properties", "log4j-console.properties", "logback.xml"):
            src = self.flink_home / "conf" / name
            if src.exists():
                shutil.copy(src, self.conf_dir / name)
        (self.conf_dir / "zoo.cfg").write_text("\n".join([
            "# written by flinkops_devkit.zkserver",
            "tickTime=2000",
            "initLimit=10",
            "syncLimit=5",
            f"dataDir={self.data_dir}",
            f"clientPort={self.port}",
            "clientPortAddress=127.0.0.1",
            f"server.1=localhost:{peer_port}:{election_port}",
            # unknown keys become zookeeper.* system properties: no AdminServer on :8080
            "admin.enableServer=false",
            "4lw.commands.whitelist=srvr,ruok,stat,mntr",
            "maxClientCnxns=0",
            "",
        ]))

    def _env(self) -> dict:
        env = dict(os.environ)
        for k in ("FLINK_ENV_JAVA_OPTS", "JVM_ARGS", "HADOOP_CONF_DIR", "ZK_HEAP"):
            env.pop(k, None)
        env.update({
            "FLINK_CONF_DIR": str(self.conf_dir),
            "FLINK_LOG_DIR": str(self.log_dir),
            "FLINK_PID_DIR": str(self.pid_dir),
            "FLINK_HOME": str(self.flink_home),
            "FLINK_IDENT_STRING": os.environ.get("USER") or "flinkops",
        })
        return with_test_java_env(env)

    def _pid_from_file(self) -> int | None:
        for f in self.pid_dir.glob("flink-*-zookeeper.pid"):
            for line in f.read_text().split():
                if line.isdigit() and _pid_alive(int(line)) and str(self.conf_dir) in _pid_cmdline(int(line)):
                    return int(line)
        return None

    # ---- lifecycle
    def serving(self) -> bool:
        """True when the server answers ``srvr`` with its mode (it serves client requests)."""
        return self.port is not None and "Mode:" in four_letter_word("127.0.0.1", self.port, "srvr")

    def start(self, timeout: float = 60) -> "ZooKeeperServer":
        if self.pid is not None and _pid_alive(self.pid):
            return self
        t0 = time.time()
        for d in (self.data_dir, self.log_dir, self.pid_dir):
            d.mkdir(parents=True, exist_ok=True)
        for f in self.pid_dir.glob("flink-*-zookeeper.pid"):
            f.unlink()
        if self.port is None:
            self.port = free_port()
        peer_port = free_port()
        election_port = free_port()
        while len({self.port, peer_port, election_port}) < 3:
            peer_port, election_port = free_port(), free_port()
        self._write_conf(peer_port, election_port)
        # Its own session: the daemon it forks stays in this process group, which is how a
        # server whose pid was never seen is still stopped (never by a name pattern).
        proc = subprocess.Popen([str(self.flink_home / "bin" / "zookeeper.sh"), "start", "1"], env=self._env(),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
        output, _ignored = proc.communicate(timeout=60)
        if proc.returncode != 0:
            raise ZooKeeperError(f"zookeeper.sh start failed ({proc.returncode}):\n{output}")
        self.pid = daemon_pid(self._pid_from_file)
        if self.pid is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            raise ZooKeeperError(f"zookeeper.sh start wrote no live pid:\n{output}\n{self.log_tail()}")
        with _LOCK:
            _RUNNING.append(self)
        deadline = t0 + timeout
        while time.time() < deadline:
            if self.serving():
                self.start_seconds = time.time() - t0
                return self
            if not _pid_alive(self.pid):
                break
            time.sleep(0.2)
        alive = _pid_alive(self.pid)
        tail = self.log_tail()
        self.stop()
        raise ZooKeeperError(f"ZooKeeper on port {self.port} "
                             f"{'not serving after %.0fs' % timeout if alive else 'exited'}\n{tail}")

    def stop(self, grace: float = 5.0) -> None:
        pid, self.pid = self.pid, None
        if pid is not None and _pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.time() + grace
            while time.time() < deadline and _pid_alive(pid):
                time.sleep(0.1)
            if _pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                deadline = time.time() + 10
                while time.time() < deadline and _pid_alive(pid):
                    time.sleep(0.1)
        for f in self.pid_dir.glob("flink-*-zookeeper.pid") if self.pid_dir.exists() else ():
            f.unlink(missing_ok=True)
        with _LOCK:
            if self in _RUNNING:
                _RUNNING.remove(self)
        if pid is not None and _pid_alive(pid):
            raise ZooKeeperError(f"ZooKeeper process {pid} survived SIGKILL")

    def log_tail(self, lines: int = 40) -> str:
        parts = []
        if self.log_dir.exists():
            for f in sorted(self.log_dir.iterdir()):
                if f.is_file() and f.suffix in (".log", ".out"):
                    text = f.read_text(errors="replace").splitlines()[-lines:]
                    parts.append(f"---- {f.name} (last {lines} lines)\n" + "\n".join(text))
        return "\n".join(parts)

    def __enter__(self) -> "ZooKeeperServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<ZooKeeperServer {self.address if self.port else '(not started)'} pid={self.pid}>"
