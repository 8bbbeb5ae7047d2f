# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""flinkctl, the real-Flink test harness: local standalone clusters, and the ``flinkctl`` command.

Stdlib only. Module API (with what it uses from provision and rest, so ``flinkctl.X`` is the whole
harness):

    Cluster(version, name=None, slots=8, base_dir=None, keep=False)
                                  start()/stop()/context manager, url, home, conf_dir, ...
    provision(version), build_jobs(version), resolve_version(v), major(v), VERSIONS, ENTRY_CLASS
                                  see flinkops_devkit.provision
    rest(url, method, path, body=None, timeout=30) -> (status, parsed json or text), upload_jar()
                                  see flinkops_devkit.rest
    free_port(), smoke(version), STATE_FILE

CLI (``flinkctl`` in a venv that has the package, or ``python -m flinkops_devkit.flinkctl``):
    flinkctl versions
    flinkctl provision 2.3
    flinkctl build-jobs 2.3 [--print stateful-v1|entry_class|zoo.<job>]
    flinkctl start 2.3 [--name demo] [--dir DIR] [--slots 8] [--port 8081]
    flinkctl url --dir DIR          prints the REST URL of the cluster started with --dir DIR
    flinkctl stop --dir DIR [--delete]
                                    keeps DIR (logs, savepoints) unless --delete
    flinkctl smoke 2.3 [1.20 ...]   provision, build, start, run a v1 job, stop; prints timings
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import glob
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import uuid
from pathlib import Path

from flinkops_devkit.provision import (
    ENTRY_CLASS,
    VERSIONS,
    build_jobs,
    log,
    major,
    provision,
    resolve_version,
)
from flinkops_devkit.rest import rest, upload_jar

__all__ = ["Cluster", "ClusterError", "ENTRY_CLASS", "STATE_FILE", "START_TIMEOUT", "VERSIONS", "build_jobs",
           "free_port", "main", "major", "provision", "resolve_version", "rest", "smoke", "upload_jar"]

STATE_FILE = "flinkops-cluster.json"
# A ceiling, not a wait (FLINKOPS_START_TIMEOUT sets it): a healthy start returns once the
# TaskManagers registered, a dead JobManager ends it early. CI's lanes load two cores so much
# that a JobManager took 44 s and its TaskManager longer than the 46 s left of a 90 s budget.
START_TIMEOUT = float(os.environ.get("FLINKOPS_START_TIMEOUT") or 300.0)
# The test clusters' JVMs compile with C1 only and collect with the serial collector: the tests'
# jobs move a few hundred records a second, and a dozen clusters share two cores during
# `make test`, where C2's compiler threads and the parallel collector cost more CPU than they
# save (measured on Flink 2.3: start 6.8 -> 4.0 CPU-s, a running test job 8.3 -> 5.0 CPU-s a
# minute). Pekko's scheduler, which runs Flink's RPC timers (heartbeats, timeouts, delayed
# retries), wakes every tick: 10 ms by default, in two actor systems per JVM, about half of an
# idle cluster's CPU. At 100 ms a timer fires at most 0.1 s late, nothing for timers of seconds;
# an idle cluster went from 1.5 to 0.8 CPU-s a minute (hack/measure_cluster_cpu.py, Flink 2.3).
# FLINKOPS_TEST_JVM_OPTS= (empty) keeps the JVM's and Flink's defaults.
TEST_JVM_OPTS = os.environ.get("FLINKOPS_TEST_JVM_OPTS",
                               "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Dpekko.scheduler.tick-duration=100ms")


# --------------------------------------------------------------------------- cluster


# Listening ports come from below Linux's ephemeral range (32768-60999). A port from that range
# can be taken, while its JobManager is down, by a client's own connection: a TaskManager (or a
# module's retry) reconnecting to 127.0.0.1:port may be given that very port as its source and
# connect to itself (TCP simultaneous open), and the restarted JobManager then fails with "Could
# not create actor system". Seen once in CI in the JobManager-kill fault test.
_LISTEN_PORTS = range(20000, 32000)


def free_port() -> int:
    """A loopback port nobody listens on, outside the kernel's ephemeral range."""
    rng = random.SystemRandom()
    for _attempt in range(200):
        port = rng.choice(_LISTEN_PORTS)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise ClusterError("no free port in %d-%d" % (_LISTEN_PORTS[0], _LISTEN_PORTS[-1]))


def with_test_jvm_opts(java_opts: str) -> str:
    """``env.java.opts.all`` with TEST_JVM_OPTS appended (once)."""
    if not TEST_JVM_OPTS or TEST_JVM_OPTS in java_opts:
        return java_opts
    return (java_opts + " " + TEST_JVM_OPTS).strip()


def with_test_java_env(env: dict) -> dict:
    """``env`` for Flink's daemon scripts, whose own short JVMs get TEST_JVM_OPTS too.

    Each daemon script runs Flink's BashJavaUtils three times to read the configuration (a
    cluster start: six JVMs, half of its CPU), with no options of ours; the ``java`` launcher
    adds JDK_JAVA_OPTIONS to every JVM it starts (and notes that on the daemon's .out file)."""
    if TEST_JVM_OPTS and TEST_JVM_OPTS not in env.get("JDK_JAVA_OPTIONS", ""):
        env["JDK_JAVA_OPTIONS"] = (env.get("JDK_JAVA_OPTIONS", "") + " " + TEST_JVM_OPTS).strip()
    return env


def _flatten_yaml(text: str) -> dict:
    """Flatten the simple nested/flat `key: value` YAML Flink ships into {"a.b.c": "value"}.

    Handles comments, nested maps by indentation and flat dotted keys; no lists (none shipped).
    """
    out: dict = {}
    stack: list = []  # (indent, key)
    for raw in text.splitlines():
        line = raw.rstrip()
        stripped = line.lstrip()
        if not stripped or stripped.startswith("#") or stripped.startswith("- "):
            continue
        if ":" not in stripped:
            continue
        indent = len(line) - len(stripped)
        key, _colon, value = stripped.partition(":")
        key = key.strip().strip("'\"")
        value = value.strip()
        if value.startswith("#"):
            value = ""
        while stack and stack[-1][0] >= indent:
            stack.pop()
        full = ".".join([k for _indent, k in stack] + [key])
        if value == "":
            stack.append((indent, key))
        else:
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            out[full] = value
    return out


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def _pid_cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def fault_cluster(prefix: str, version: str) -> "Cluster":
    """A cluster of a fault suite's own (not yet started), its jobs built. Like a production
    cluster that has run for a while: past the standalone ResourceManager's start-up period (5 min
    by default), a slot request no TaskManager can serve fails at once with
    NoResourceAvailableException instead of waiting, and the job restarts."""
    cluster = Cluster(version, name="%s-%s" % (prefix, uuid.uuid4().hex[:6]), slots=4,
                      extra_config={"resourcemanager.standalone.start-up-time": "10000"})
    cluster.jobs = build_jobs(version)
    return cluster


def daemon_pid(find, timeout: float = 30.0):
    """The pid ``find()`` returns once it returns one, or None after ``timeout``.

    Flink's daemon scripts record the pid of a child that may not have exec'd java yet: for a
    moment (seconds under load) its command line does not name the daemon's directories."""
    deadline = time.time() + timeout
    pid = find()
    while not pid and time.time() < deadline:
        time.sleep(0.2)
        pid = find()
    return pid


_RUNNING: "list[Cluster]" = []
_RUNNING_LOCK = threading.Lock()


def _atexit_stop_all() -> None:
    with _RUNNING_LOCK:
        clusters = list(_RUNNING)
    for c in clusters:
        if not c.detached:
            try:
                c.stop()
            except Exception as e:  # pragma: no cover - best effort
                log(f"atexit: stopping {c.name} failed: {e}")


atexit.register(_atexit_stop_all)


def _sigterm_to_exit(signum, frame):  # pragma: no cover - exercised by hand
    raise SystemExit(128 + signum)  # unwinds, so atexit stops the clusters


def _install_sigterm_handler() -> None:
    """On SIGTERM (e.g. `timeout pytest`), exit normally so atexit stops our clusters.

    Only when nobody installed a handler before and we run in the main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    with contextlib.suppress(Exception):
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, _sigterm_to_exit)


class ClusterError(RuntimeError):
    pass


class Cluster:
    """A standalone Flink session cluster (1 JobManager + 1 TaskManager) on loopback."""

    def __init__(self, version: str, name: str | None = None, slots: int = 8,
                 base_dir: str | os.PathLike | None = None, keep: bool = False,
                 jm_memory: str = "1024m", tm_memory: str = "1280m", extra_config: dict | None = None,
                 rest_ssl_context=None):
        """``rest_ssl_context``: an ssl.SSLContext for a cluster whose REST endpoint uses TLS
        (``security.ssl.rest.*`` in ``extra_config``); the URL becomes https:// and the
        harness's own readiness probes use that context (with a client certificate for mTLS)."""
        self.version = resolve_version(version)
        self.minor = ".".join(self.version.split(".")[:2])
        self.name = name or f"flink-{self.version}-{uuid.uuid4().hex[:6]}"
        self.slots = int(slots)
        self.keep = keep
        self.jm_memory = jm_memory
        self.tm_memory = tm_memory
        self.extra_config = dict(extra_config or {})
        self.rest_ssl_context = rest_ssl_context
        self._base_dir_arg = Path(base_dir).resolve() if base_dir else None
        self.base_dir: Path | None = self._base_dir_arg
        self.home: Path | None = None
        self.rest_port: int | None = None
        self.requested_rest_port: int | None = None  # None: a free port is picked at start()
        self.rpc_port: int | None = None
        self.url: str | None = None
        self.jobs: dict | None = None  # filled by the pytest plugin (build_jobs result)
        self.detached = False
        self.started = False
        self.start_seconds: float | None = None

    # ---- paths
    def _p(self, sub: str) -> Path:
        assert self.base_dir is not None
        return self.base_dir / sub

    @property
    def conf_dir(self) -> Path:
        return self._p("conf")

    @property
    def log_dir(self) -> Path:
        return self._p("log")

    @property
    def pid_dir(self) -> Path:
        return self._p("pids")

    @property
    def tmp_dir(self) -> Path:
        return self._p("tmp")

    @property
    def savepoint_dir(self) -> Path:
        return self._p("savepoints")

    @property
    def checkpoint_dir(self) -> Path:
        return self._p("checkpoints")

    def _shipped_config_name(self) -> str:
        """config.yaml (standard YAML; shipped by 1.19+) or the legacy flink-conf.yaml (1.18)."""
        if self.home is not None and (self.home / "conf" / "config.yaml").exists():
            return "config.yaml"
        if self.home is not None and (self.home / "conf" / "flink-conf.yaml").exists():
            return "flink-conf.yaml"
        vt = tuple(int(x) for x in self.version.split("."))
        return "config.yaml" if vt >= (1, 19, 0) else "flink-conf.yaml"

    @property
    def config_file(self) -> Path:
        return self.conf_dir / self._shipped_config_name()

    # ---- config
    def _config(self) -> dict:
        assert self.home is not None
        shipped_name = self._shipped_config_name()
        conf = _flatten_yaml((self.home / "conf" / shipped_name).read_text())
        if "env.java.opts.all" not in conf:
            raise ClusterError(f"{shipped_name} of Flink {self.version} has no env.java.opts.all")
        v2 = major(self.version) >= 2
        tmp = str(self.tmp_dir)
        conf.update({
            "jobmanager.rpc.address": "localhost",
            "jobmanager.rpc.port": str(self.rpc_port),
            "jobmanager.bind-host": "localhost",
            "taskmanager.bind-host": "localhost",
            "taskmanager.host": "localhost",
            "rest.port": str(self.rest_port),
            "rest.address": "127.0.0.1",
            "rest.bind-address": "127.0.0.1",
            "blob.server.port": "0",
            "taskmanager.rpc.port": "0",
            "taskmanager.data.port": "0",
            "metrics.internal.query-service.port": "0",
            "taskmanager.numberOfTaskSlots": str(self.slots),
            "parallelism.default": "1",
            "jobmanager.memory.process.size": self.jm_memory,
            "taskmanager.memory.process.size": self.tm_memory,
            "taskmanager.memory.managed.fraction": "0.1",
            ("execution.checkpointing.savepoint-dir" if v2 else "state.savepoints.dir"):
                self.savepoint_dir.as_uri(),
            ("execution.checkpointing.dir" if v2 else "state.checkpoints.dir"):
                self.checkpoint_dir.as_uri(),
            "env.pid.dir": str(self.pid_dir),
            "env.log.dir": str(self.log_dir),
            "io.tmp.dirs": tmp,
            "web.tmpdir": tmp,
            "web.upload.dir": str(self._p("uploads")),
            "web.submit.enable": "true",
            # faster detection of killed JM/TM processes (defaults: 10 s / 50 s)
            "heartbeat.interval": "2000",
            "heartbeat.timeout": "20000",
            "web.cancel.enable": "true",
        })
        # Job output (System.out -> TaskManager .out) in UTF-8 whatever the locale is.
        utf8 = "-Dfile.encoding=UTF-8 -Dsun.stdout.encoding=UTF-8 -Dsun.stderr.encoding=UTF-8"
        if "-Dfile.encoding" not in conf["env.java.opts.all"]:
            conf["env.java.opts.all"] = conf["env.java.opts.all"] + " " + utf8
        conf["env.java.opts.all"] = with_test_jvm_opts(conf["env.java.opts.all"])
        conf.update({k: str(v) for k, v in self.extra_config.items()})
        return conf

    def _write_config(self) -> None:
        assert self.home is not None
        if self.conf_dir.exists():
            shutil.rmtree(self.conf_dir)
        shutil.copytree(self.home / "conf", self.conf_dir)
        for name in ("config.yaml", "flink-conf.yaml"):
            (self.conf_dir / name).unlink(missing_ok=True)
        lines = [f"# written by flinkops_devkit.flinkctl for cluster {self.name}"]
        lines += [f"{k}: {v}" for k, v in self._config().items()]
        self.config_file.write_text("\n".join(lines) + "\n")

    def _env(self) -> dict:
        env = dict(os.environ)
        env.update({
            "FLINK_CONF_DIR": str(self.conf_dir),
            "FLINK_LOG_DIR": str(self.log_dir),
            "FLINK_PID_DIR": str(self.pid_dir),
            "FLINK_HOME": str(self.home),
            "FLINK_IDENT_STRING": os.environ.get("USER") or "flinkops",
        })
        for k in ("FLINK_ENV_JAVA_OPTS", "JVM_ARGS", "HADOOP_CONF_DIR"):
            env.pop(k, None)
        return with_test_java_env(env)

    def _daemon(self, script: str, action: str, timeout: float = 60.0) -> None:
        assert self.home is not None
        proc = subprocess.run([str(self.home / "bin" / script), action], env=self._env(),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout,
                              start_new_session=True, check=False)
        if proc.returncode != 0 and action == "start":
            raise ClusterError(f"{script} {action} failed ({proc.returncode}):\n{proc.stdout}")

    # ---- lifecycle
    def start(self, timeout: float = START_TIMEOUT) -> "Cluster":
        if self.started:
            return self
        t0 = time.time()
        self.home = provision(self.version)
        if self.base_dir is None:
            self.base_dir = Path(tempfile.mkdtemp(prefix=f"flinkops-{self.name}-"))
        else:
            self.base_dir.mkdir(parents=True, exist_ok=True)
            leftovers = [p.name for p in self.base_dir.iterdir() if p.name != STATE_FILE]
            if (self.base_dir / STATE_FILE).exists():
                old = Cluster.from_dir(self.base_dir)
                old.keep = True
                old.stop()
                for sub in ("conf", "log", "pids", "tmp", "uploads", "savepoints", "checkpoints"):
                    shutil.rmtree(self._p(sub), ignore_errors=True)
            elif leftovers:
                raise ClusterError(f"{self.base_dir} is not empty and holds no {STATE_FILE}")
        for d in (self.log_dir, self.pid_dir, self.tmp_dir, self._p("uploads"),
                  self.savepoint_dir, self.checkpoint_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.rest_port = self.requested_rest_port or free_port()
        self.rpc_port = free_port()
        while self.rpc_port == self.rest_port:
            self.rpc_port = free_port()
        scheme = "https" if self.rest_ssl_context is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.rest_port}"
        self._write_config()
        self._save_state()
        with _RUNNING_LOCK:
            _RUNNING.append(self)
        if not self.detached:
            _install_sigterm_handler()
        self.started = True
        try:
            self._daemon("jobmanager.sh", "start")
            self._daemon("taskmanager.sh", "start")
            self.wait_ready(timeout=max(5.0, timeout - (time.time() - t0)))
        except BaseException:
            try:
                self.stop(keep=True)
            except Exception:
                pass
            raise
        self.start_seconds = time.time() - t0
        self._save_state()
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT, min_taskmanagers: int = 1,
                   exclude_tm_ids=()) -> dict:
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                st, ov = rest(self.url, "GET", "/overview", timeout=5, context=self.rest_ssl_context)
                last = (st, ov)
                if st == 200 and isinstance(ov, dict) and ov.get("taskmanagers", 0) >= min_taskmanagers \
                        and ov.get("slots-total", 0) >= self.slots:
                    if not exclude_tm_ids:
                        return ov
                    st2, tms = rest(self.url, "GET", "/taskmanagers", timeout=5, context=self.rest_ssl_context)
                    ids = {t.get("id") for t in (tms or {}).get("taskmanagers", [])}
                    if ids - set(exclude_tm_ids):
                        return ov
            except (OSError, urllib.error.URLError) as e:
                last = repr(e)
            if self._jm_pids() == [] and time.time() > deadline - timeout + 10:
                break  # JobManager died
            time.sleep(0.5)
        raise ClusterError(f"Flink {self.version} cluster {self.name} not ready after {timeout:.0f}s "
                           f"(last /overview: {last!r})\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        parts = []
        if self.base_dir is None or not self.log_dir.exists():
            return ""
        for f in sorted(self.log_dir.iterdir()):
            if f.suffix in (".log", ".out") and f.is_file():
                text = f.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"---- {f.name} (last {lines} lines)\n" + "\n".join(text))
        return "\n".join(parts)

    def _pids_from(self, daemon: str) -> list:
        pids = []
        if self.base_dir is None:
            return pids
        for f in self.pid_dir.glob(f"flink-*-{daemon}.pid"):
            for line in f.read_text().split():
                if line.strip().isdigit():
                    pid = int(line)
                    if _pid_alive(pid) and str(self.base_dir) in _pid_cmdline(pid):
                        pids.append(pid)
        return pids

    def _jm_pids(self) -> list:
        return self._pids_from("standalonesession")

    def _tm_pids(self) -> list:
        return self._pids_from("taskexecutor")

    def _own_pids(self) -> list:
        """All live processes whose command line names this cluster's dirs (belt and braces)."""
        pids = set(self._jm_pids() + self._tm_pids())
        if self.base_dir is not None:
            marker = f"{self.conf_dir}"
            for d in os.listdir("/proc"):
                if d.isdigit() and int(d) != os.getpid():
                    cmd = _pid_cmdline(int(d))
                    if "java" in cmd and (marker in cmd or f"{self.log_dir}/" in cmd) and _pid_alive(int(d)):
                        pids.add(int(d))
        return sorted(pids)

    @staticmethod
    def _kill(pids, grace: float = 5.0) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.time() + grace
        while time.time() < deadline and any(_pid_alive(p) for p in pids):
            time.sleep(0.2)
        for pid in pids:
            if _pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        deadline = time.time() + 10
        while time.time() < deadline and any(_pid_alive(p) for p in pids):
            time.sleep(0.1)

    def pids(self) -> dict:
        return {"jobmanager": self._jm_pids(), "taskmanager": self._tm_pids()}

    def stop(self, keep: bool | None = None) -> None:
        keep = self.keep if keep is None else keep
        if self.base_dir is None:
            return
        # SIGTERM (Flink's shutdown hooks run), then SIGKILL: what Flink's stop scripts do, without
        # the JVM each of them starts to read the configuration (tens of seconds on a loaded
        # machine, longer than pytest-xdist waits for a finished worker before killing it).
        pids = self._own_pids()
        self._kill(pids)
        alive = [p for p in pids if _pid_alive(p)]
        with _RUNNING_LOCK:
            if self in _RUNNING:
                _RUNNING.remove(self)
        self.started = False
        if alive:
            raise ClusterError(f"processes {alive} of cluster {self.name} survived SIGKILL")
        if not keep:
            if (self.base_dir / STATE_FILE).exists() or self._base_dir_arg is None:
                shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> "Cluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- state (CLI start/stop across processes)
    def _save_state(self) -> None:
        state = self.describe()
        (self.base_dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")

    def describe(self) -> dict:
        return {
            "name": self.name, "version": self.version, "url": self.url,
            "rest_port": self.rest_port, "rpc_port": self.rpc_port, "slots": self.slots,
            "home": str(self.home) if self.home else None,
            "base_dir": str(self.base_dir) if self.base_dir else None,
            "conf_dir": str(self.conf_dir), "config_file": str(self.config_file),
            "log_dir": str(self.log_dir), "pid_dir": str(self.pid_dir),
            "savepoint_dir": str(self.savepoint_dir), "checkpoint_dir": str(self.checkpoint_dir),
            "savepoint_uri": self.savepoint_dir.as_uri(), "checkpoint_uri": self.checkpoint_dir.as_uri(),
            "pids": self.pids() if self.base_dir else {},
            "start_seconds": self.start_seconds,
        }

    @classmethod
    def from_dir(cls, base_dir) -> "Cluster":
        base = Path(base_dir).resolve()
        state = json.loads((base / STATE_FILE).read_text())
        c = cls(state["version"], name=state["name"], slots=state["slots"], base_dir=base)
        c.home = Path(state["home"]) if state.get("home") else None
        c.rest_port, c.rpc_port, c.url = state["rest_port"], state["rpc_port"], state["url"]
        c.started = True
        return c

    # ---- output and fault helpers
    def taskmanager_stdout(self) -> str:
        """Text of the TaskManager .out file(s) (the job's System.out), oldest first."""
        files = [Path(f) for f in glob.glob(str(self.log_dir / "*taskexecutor*.out*"))]
        files.sort(key=lambda p: (p.stat().st_mtime, p.name))
        return "".join(f.read_text(errors="replace") for f in files)

    def jobmanagerlog(self) -> str:
        files = sorted(glob.glob(str(self.log_dir / "*standalonesession*.log")))
        return "".join(Path(f).read_text(errors="replace") for f in files)

    def kill_jobmanager(self, sig: int = signal.SIGKILL) -> list:
        pids = self._jm_pids()
        for p in pids:
            os.kill(p, sig)
        self._wait_gone(pids)
        return pids

    def kill_taskmanager(self, sig: int = signal.SIGKILL) -> list:
        pids = self._tm_pids()
        for p in pids:
            os.kill(p, sig)
        self._wait_gone(pids)
        return pids

    @staticmethod
    def _wait_gone(pids, timeout: float = 15.0) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline and any(_pid_alive(p) for p in pids):
            time.sleep(0.1)

    def restart_jobmanager(self, timeout: float = START_TIMEOUT) -> dict:
        """Kill the JobManager (SIGKILL) and start a new one; waits for a registered TM.

        Non-HA standalone: running jobs are lost.
        """
        self.kill_jobmanager()
        self._daemon("jobmanager.sh", "start")
        return self.wait_ready(timeout=timeout)

    def restart_taskmanager(self, timeout: float = START_TIMEOUT) -> dict:
        """Kill the TaskManager (SIGKILL) and start a new one; waits until the new TM registers."""
        st, tms = rest(self.url, "GET", "/taskmanagers", timeout=5, context=self.rest_ssl_context)
        old = {t.get("id") for t in (tms or {}).get("taskmanagers", [])} if st == 200 else set()
        self.kill_taskmanager()
        self._daemon("taskmanager.sh", "start")
        return self.wait_ready(timeout=timeout, exclude_tm_ids=old or ())

    def __repr__(self) -> str:
        return f"<Cluster {self.name} flink={self.version} url={self.url}>"


# --------------------------------------------------------------------------- smoke


def smoke(version: str, keep_running: bool = False) -> dict:
    """provision + build_jobs + cluster start + a v1 job with all tasks RUNNING printing COUNT lines."""
    t0 = time.time()
    timings: dict = {"version": resolve_version(version)}
    provision(version)
    timings["provision_s"] = round(time.time() - t0, 1)
    t = time.time()
    jobs = build_jobs(version)
    timings["build_jobs_s"] = round(time.time() - t, 1)
    cluster = Cluster(version, name=f"smoke-{resolve_version(version)}")
    try:
        t = time.time()
        cluster.start()
        timings["cluster_start_s"] = round(time.time() - t, 1)
        st, up = upload_jar(cluster.url, jobs["stateful-v1"])
        if st != 200:
            raise RuntimeError(f"upload: {st} {up}")
        jar_id = up["filename"].rsplit("/", 1)[-1]
        tag = f"smoke {uuid.uuid4().hex[:6]}"
        t = time.time()
        st, run = rest(cluster.url, "POST", f"/jars/{jar_id}/run",
                       {"entryClass": jobs["entry_class"], "programArgsList": ["--name", "smoke", "--tag", tag]},
                       timeout=120)
        if st != 200:
            raise RuntimeError(f"run: {st} {run}")
        timings["run_request_s"] = round(time.time() - t, 2)
        job_id = run["jobid"]
        deadline = time.time() + 60
        while True:
            st, ov = rest(cluster.url, "GET", "/jobs/overview")
            job = next((j for j in ov["jobs"] if j["jid"] == job_id), None)
            if job and job["state"] == "RUNNING" and job["tasks"]["running"] == job["tasks"]["total"]:
                break
            if time.time() > deadline:
                raise RuntimeError(f"job not running: {job}\n{cluster.log_tail()}")
            time.sleep(0.1)
        timings["all_running_after_run_s"] = round(time.time() - t, 2)
        deadline = time.time() + 60
        while f"version=v1 tag={tag}" not in cluster.taskmanager_stdout() or \
                "FLINKOPS COUNT" not in cluster.taskmanager_stdout():
            if time.time() > deadline:
                raise RuntimeError("no COUNT lines in the TaskManager stdout")
            time.sleep(0.5)
        timings["first_count_after_run_s"] = round(time.time() - t, 2)
        rest(cluster.url, "PATCH", f"/jobs/{job_id}?mode=cancel")
        timings["url"] = cluster.url
    finally:
        if not keep_running:
            t = time.time()
            cluster.stop()
            timings["cluster_stop_s"] = round(time.time() - t, 1)
    timings["total_s"] = round(time.time() - t0, 1)
    return timings


# --------------------------------------------------------------------------- CLI


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="flinkctl", description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("versions", help="print the VERSIONS map as JSON")
    p = sub.add_parser("provision", help="download + unpack a Flink distribution into the cache")
    p.add_argument("version")
    p = sub.add_parser("build-jobs", help="compile the test jobs; prints JSON name -> path")
    p.add_argument("version")
    p.add_argument("--print", dest="print_key", metavar="KEY",
                   help="print only this value: a JAR name (stateful-v1), entry_class, or zoo.<job>")
    p = sub.add_parser("start", help="start a cluster that keeps running after the CLI exits")
    p.add_argument("version")
    p.add_argument("--name")
    p.add_argument("--dir", help="base dir of the cluster (default: a new temp dir)")
    p.add_argument("--slots", type=int, default=8)
    p.add_argument("--port", type=int, help="REST port (default: a free port; see `url`)")
    p = sub.add_parser("url", help="print the REST URL of the cluster started with --dir DIR")
    p.add_argument("--dir", required=True)
    p = sub.add_parser("stop", help="stop the cluster started with --dir DIR; keeps DIR unless --delete")
    p.add_argument("--dir", required=True)
    p.add_argument("--delete", action="store_true",
                   help="also delete DIR with the cluster's logs, savepoints and checkpoints")
    p.add_argument("--keep", action="store_true", help=argparse.SUPPRESS)  # the default now
    p = sub.add_parser("smoke", help="provision, build, start, run a v1 job, stop; prints timings")
    p.add_argument("version", nargs="+")
    args = ap.parse_args(argv)

    if args.cmd == "versions":
        print(json.dumps(VERSIONS, indent=2))
    elif args.cmd == "provision":
        print(provision(args.version))
    elif args.cmd == "build-jobs":
        jobs = build_jobs(args.version)
        if args.print_key:
            if args.print_key.startswith("zoo."):
                value = jobs["zoo"].get(args.print_key[4:], {}).get("entry_class")
            else:
                value = jobs.get(args.print_key)
            if not isinstance(value, str):
                print(f"no {args.print_key!r}; known: {sorted(k for k in jobs if k != 'zoo')} and "
                      f"zoo.<job> for {sorted(jobs['zoo'])}", file=sys.stderr)
                return 2
            print(value)
        else:
            print(json.dumps(jobs, indent=2))
    elif args.cmd == "start":
        c = Cluster(args.version, name=args.name, slots=args.slots, base_dir=args.dir, keep=True)
        c.detached = True  # no atexit kill: the cluster outlives this process
        c.requested_rest_port = args.port
        c.start()
        print(json.dumps(c.describe(), indent=2))
        print(f"Flink {c.version} runs at {c.url}; `flinkctl url --dir {c.base_dir}` prints it again",
              file=sys.stderr)
    elif args.cmd == "url":
        base = Path(args.dir)
        if not (base / STATE_FILE).exists():
            print(f"no {STATE_FILE} in {base}: no cluster was started with --dir {base}", file=sys.stderr)
            return 1
        print(json.loads((base / STATE_FILE).read_text())["url"])
    elif args.cmd == "smoke":
        rc = 0
        for v in args.version:
            try:
                print(json.dumps(smoke(v)), flush=True)
            except Exception as e:
                rc = 1
                print(json.dumps({"version": v, "error": str(e)[-3000:]}), flush=True)
        return rc
    elif args.cmd == "stop":
        base = Path(args.dir)
        if not (base / STATE_FILE).exists():
            print(f"no {STATE_FILE} in {base}: nothing to stop", file=sys.stderr)
            return 1
        c = Cluster.from_dir(base)
        # Savepoints and logs are worth more than the disk space: delete only when asked.
        c.stop(keep=not args.delete)
        print(json.dumps({"stopped": c.name, "dir": str(base), "kept": not args.delete}))
        print(f"stopped {c.name}; " + (f"deleted {base}" if args.delete else
              f"kept {base} (logs, savepoints, checkpoints); delete it with --delete"), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
