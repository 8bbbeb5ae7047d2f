# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A ZooKeeper-HA Flink session cluster on this machine: what a Kubernetes HA deployment looks like.

One ZooKeeper server (zkserver.ZooKeeperServer, from the distribution), two JobManagers (each
with its own REST port, JAR upload dir, conf, log and pid dirs, like two pods behind a Service)
and one TaskManager that finds the leader through ZooKeeper.

    with HaCluster("2.3") as ha:
        ha.urls                 # ["http://127.0.0.1:P0", "http://127.0.0.1:P1"]
        ha.url_of(1)
        ha.leader_index()       # 0 or 1: whose REST server holds leadership in ZooKeeper
        ha.kill_jobmanager_of(i)   # SIGKILL, like a lost pod
        ha.restart_jobmanager_of(i)  # a new JobManager process with an EMPTY upload dir
        ha.wait_job_cleaned_up(job_id)  # Flink's clean-up after an ended job is done
        ha.savepoint_dir, ha.checkpoint_dir, ha.home, ha.version, ha.log_tail()

Builds on flinkctl.Cluster (config from the shipped file with ``env.java.opts.all``, env, kill,
atexit clean-up) and adds the HA keys. Leader detection: the ZooKeeper node Flink's own clients
read (``<root>/<cluster-id>/leader/rest_server/connection_info`` holds the leader's REST URL),
through kazoo when installed, else the JobManager logs ("... was granted leadership").
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import uuid
from pathlib import Path

from flinkops_devkit.flinkctl import (
    _RUNNING,
    _RUNNING_LOCK,
    START_TIMEOUT,
    Cluster,
    ClusterError,
    _install_sigterm_handler,
    _pid_alive,
    _pid_cmdline,
    daemon_pid,
    free_port,
    major,
    provision,
    resolve_version,
    rest,
)
from flinkops_devkit.zkserver import ZooKeeperServer

__all__ = ["HaCluster", "JOBMANAGERS"]

JOBMANAGERS = 2
ZK_ROOT = "/flink"


class FlinkCannotRecover(ClusterError):
    """A JobManager died at its start because Flink's dispatcher could not recover the HA
    store: seen on Flink 2.3 after a leader was killed under a submission, where every next
    leader fails ``Dispatcher.onStart``'s check that each recovered dirty job result belongs to
    a recovered application (an IllegalStateException). No client can repair that through
    REST; the cluster must be rebuilt (``HaCluster.rebuild``)."""


# Both lines are in the log of a JobManager whose dispatcher failed that check.
DISPATCHER_RECOVERY_FAILED = ("Could not start RpcEndpoint dispatcher", "Dispatcher.onStart")


class HaCluster(Cluster):
    """ZooKeeper HA session cluster: 1 ZooKeeper, 2 JobManagers, 1 TaskManager, on loopback."""

    def __init__(self, version: str, base_dir: str | os.PathLike | None = None, slots: int = 4,
                 name: str | None = None, keep: bool = False, extra_config: dict | None = None,
                 zk_session_timeout_ms: int = 10000):
        """``zk_session_timeout_ms``: ``high-availability.zookeeper.client.session-timeout``
        (Flink's default 60000). A SIGKILLed leader holds its ZooKeeper latch until its session
        expires, so this bounds how long a failover takes."""
        super().__init__(version, name=name or f"ha-{resolve_version(version)}-{uuid.uuid4().hex[:6]}",
                         slots=slots, base_dir=base_dir, keep=keep, extra_config=extra_config)
        self.zk_session_timeout_ms = int(zk_session_timeout_ms)
        self.cluster_id = f"flinkops-{uuid.uuid4().hex[:8]}"
        self.zk: ZooKeeperServer | None = None
        self.rest_ports: list = []
        self.jm_pids: list = [None] * JOBMANAGERS

    # ---- paths
    def jm_dir(self, i: int) -> Path:
        return self._p(f"jm{i}")

    def jm_conf_dir(self, i: int) -> Path:
        return self.jm_dir(i) / "conf"

    def jm_log_dir(self, i: int) -> Path:
        return self.jm_dir(i) / "log"

    def jm_pid_dir(self, i: int) -> Path:
        return self.jm_dir(i) / "pids"

    def upload_dir(self, i: int) -> Path:
        return self.jm_dir(i) / "uploads"

    @property
    def ha_storage_dir(self) -> Path:
        return self._p("ha")

    @property
    def urls(self) -> list:
        return [f"http://127.0.0.1:{p}" for p in self.rest_ports]

    def url_of(self, i: int) -> str:
        return self.urls[i]

    # ---- config
    def _config(self) -> dict:
        assert self.zk is not None
        conf = super()._config()
        conf.pop("jobmanager.rpc.port", None)  # with HA the RPC port is high-availability.jobmanager.port
        conf.update({
            "high-availability.type": "zookeeper",
            "high-availability.zookeeper.quorum": self.zk.address,
            "high-availability.zookeeper.path.root": ZK_ROOT,
            "high-availability.storageDir": self.ha_storage_dir.as_uri(),
            "high-availability.cluster-id": self.cluster_id,
            "high-availability.jobmanager.port": "0",
            "high-availability.zookeeper.client.session-timeout": str(self.zk_session_timeout_ms),
        })
        if major(self.version) < 2:
            conf["high-availability"] = "zookeeper"  # the 1.x key (1.17+ read .type as well)
        conf.update({k: str(v) for k, v in self.extra_config.items()})
        return conf

    def _jm_config(self, i: int, base: dict) -> dict:
        conf = dict(base)
        conf.update({
            "rest.port": str(self.rest_ports[i]),
            "web.upload.dir": str(self.upload_dir(i)),
            "env.log.dir": str(self.jm_log_dir(i)),
            "env.pid.dir": str(self.jm_pid_dir(i)),
        })
        return conf

    def _write_configs(self) -> None:
        self._write_config()  # base conf dir: the TaskManager's
        base = self._config()
        for i in range(JOBMANAGERS):
            d = self.jm_conf_dir(i)
            if d.exists():
                shutil.rmtree(d)
            shutil.copytree(self.conf_dir, d)
            lines = [f"# written by flinkops_devkit.hacluster for {self.name}, JobManager {i}"]
            lines += [f"{k}: {v}" for k, v in self._jm_config(i, base).items()]
            (d / self.config_file.name).write_text("\n".join(lines) + "\n")

    def _jm_env(self, i: int) -> dict:
        env = self._env()
        env.update({"FLINK_CONF_DIR": str(self.jm_conf_dir(i)), "FLINK_LOG_DIR": str(self.jm_log_dir(i)),
                    "FLINK_PID_DIR": str(self.jm_pid_dir(i))})
        return env

    def _run_script(self, script: str, env: dict, timeout: float = 120.0) -> None:
        assert self.home is not None
        proc = subprocess.run([str(self.home / "bin" / script), "start"], env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                              start_new_session=True, check=False)
        if proc.returncode != 0:
            raise ClusterError(f"{script} start failed ({proc.returncode}):\n{proc.stdout}")

    def _start_jobmanager(self, i: int) -> int:
        for d in (self.jm_log_dir(i), self.jm_pid_dir(i), self.upload_dir(i)):
            d.mkdir(parents=True, exist_ok=True)
        for f in self.jm_pid_dir(i).glob("flink-*.pid"):
            f.unlink()
        self._run_script("jobmanager.sh", self._jm_env(i))
        pids = daemon_pid(lambda: self._pids_in(self.jm_pid_dir(i), "standalonesession"))
        if not pids:
            raise ClusterError(f"JobManager {i} did not start\n{self.log_tail()}")
        self.jm_pids[i] = pids[-1]
        return pids[-1]

    def _pids_in(self, pid_dir: Path, daemon: str) -> list:
        pids = []
        for f in pid_dir.glob(f"flink-*-{daemon}.pid"):
            for line in f.read_text().split():
                if line.isdigit() and _pid_alive(int(line)) and str(self.base_dir) in _pid_cmdline(int(line)):
                    pids.append(int(line))
        return pids

    # ---- lifecycle
    def start(self, timeout: float = START_TIMEOUT) -> "HaCluster":
        if self.started:
            return self
        t0 = time.time()
        self.home = provision(self.version)
        if self.base_dir is None:
            self.base_dir = Path(tempfile.mkdtemp(prefix=f"flinkops-{self.name}-"))
        else:
            self.base_dir.mkdir(parents=True, exist_ok=True)
            if any(self.base_dir.iterdir()):
                raise ClusterError(f"{self.base_dir} is not empty")
        for d in (self.log_dir, self.pid_dir, self.tmp_dir, self._p("uploads"), self.savepoint_dir,
                  self.checkpoint_dir, self.ha_storage_dir):
            d.mkdir(parents=True, exist_ok=True)
        with _RUNNING_LOCK:
            _RUNNING.append(self)  # flinkctl's atexit stops it (and so its ZooKeeper)
        _install_sigterm_handler()
        self.started = True
        try:
            self.zk = ZooKeeperServer(self.home, self._p("zk")).start()
            ports: set = {self.zk.port}
            while len(ports) < 1 + JOBMANAGERS:
                ports.add(free_port())
            self.rest_ports = sorted(ports - {self.zk.port})
            self.rest_port = self.rest_ports[0]
            self.rpc_port = 0
            self.url = self.urls[0]
            self._write_configs()
            for i in range(JOBMANAGERS):
                self._start_jobmanager(i)
            self._run_script("taskmanager.sh", self._env())
            for i in range(JOBMANAGERS):
                self.wait_ready_jm(i, timeout=max(5.0, timeout - (time.time() - t0)))
            self.wait_leader(timeout=max(5.0, timeout - (time.time() - t0)))
        except BaseException:
            with contextlib.suppress(Exception):
                self.stop(keep=True)
            raise
        self.start_seconds = time.time() - t0
        return self

    def wait_ready_jm(self, i: int, timeout: float = START_TIMEOUT, min_taskmanagers: int = 1) -> dict:
        """Wait until JobManager i's REST answers /overview with a registered TaskManager."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                st, ov = rest(self.url_of(i), "GET", "/overview", timeout=5)
                last = (st, ov)
                if st == 200 and isinstance(ov, dict) and ov.get("taskmanagers", 0) >= min_taskmanagers \
                        and ov.get("slots-total", 0) >= self.slots:
                    return ov
            except (OSError, urllib.error.URLError) as e:
                last = repr(e)
            pid = self.jm_pids[i]
            if pid is None or not _pid_alive(pid):
                died = f"JobManager {i} of {self.name} died (last /overview: {last!r})\n{self.log_tail()}"
                log = self.jobmanager_log(i)
                if all(line in log for line in DISPATCHER_RECOVERY_FAILED):
                    raise FlinkCannotRecover(died)
                raise ClusterError(died)
            time.sleep(0.5)
        raise ClusterError(f"JobManager {i} of {self.name} not ready after {timeout:.0f}s "
                           f"(last /overview: {last!r})\n{self.log_tail()}")

    def wait_ready(self, timeout: float = START_TIMEOUT, min_taskmanagers: int = 1, exclude_tm_ids=()) -> dict:
        ov = {}
        for i in range(JOBMANAGERS):
            if self.jm_pids[i] is not None and _pid_alive(self.jm_pids[i]):
                ov = self.wait_ready_jm(i, timeout=timeout, min_taskmanagers=min_taskmanagers)
        return ov

    # ---- leadership
    def _leader_url_from_zk(self) -> str | None:
        from kazoo.client import KazooClient  # optional: ImportError -> the logs
        from kazoo.exceptions import NoNodeError
        zk = KazooClient(hosts=self.zk.address, timeout=5)
        zk.start(timeout=10)
        try:
            path = f"{ZK_ROOT}/{self.cluster_id}/leader/rest_server/connection_info"
            try:
                data, _stat = zk.get(path)
            except NoNodeError:  # no leader yet, or the dead leader's node just expired
                return None
        finally:
            zk.stop()
            zk.close()
        m = re.search(rb"https?://[0-9A-Za-z.\-]+:\d+", data or b"")
        return m.group(0).decode() if m else None

    def _leader_from_logs(self) -> int | None:
        """The live JobManager whose current log last says its REST server was granted leadership."""
        for i in range(JOBMANAGERS):
            pid = self.jm_pids[i]
            if pid is None or not _pid_alive(pid):
                continue
            text = self.jobmanager_log(i)
            granted = text.rfind(f"{self.url_of(i)} was granted leadership")
            revoked = text.rfind(f"{self.url_of(i)} lost leadership")
            if granted >= 0 and granted > revoked:
                return i
        return None

    def leader_index(self, source: str = "auto") -> int | None:
        """Index of the JobManager whose REST server is the leader, None if none (yet).

        ``source``: "zookeeper" (the leader node Flink's clients follow), "log" (JobManager logs),
        "auto" (ZooKeeper through kazoo if installed, else the logs).
        """
        if source in ("auto", "zookeeper"):
            try:
                url = self._leader_url_from_zk()
            except ImportError:
                if source == "zookeeper":
                    raise
            else:
                if url is None:
                    return None
                idx = self.urls.index(url) if url in self.urls else None
                if idx is not None and (self.jm_pids[idx] is None or not _pid_alive(self.jm_pids[idx])):
                    return None  # a dead leader's node stays until its ZooKeeper session expires
                return idx
        return self._leader_from_logs()

    def wait_leader(self, timeout: float = 120.0, not_index: int | None = None) -> int:
        """Wait until a live JobManager (other than ``not_index``) leads; returns its index."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            idx = self.leader_index()
            if idx is not None and idx != not_index:
                return idx
            time.sleep(0.25)
        raise ClusterError(f"no JobManager of {self.name} became leader in {timeout:.0f}s\n{self.log_tail()}")

    # ---- Flink's job result store
    def wait_job_cleaned_up(self, job_id: str, quiet: float = 3.0, timeout: float = 120.0) -> None:
        """Wait until Flink finished cleaning up ended job ``job_id``.

        A job that reaches a terminal state gets a ``<job-id>_DIRTY.json`` entry in the job result
        store (under ``high-availability.storageDir``) until the Dispatcher has cleaned up after it.
        A leader that dies before that leaves the entry dirty, and the next leader re-runs the
        clean-up and then lists the job as finished for ``jobstore.expiration-time`` (an hour): a
        test that needs Flink to forget a stopped job must restart the leader only after this.
        ``quiet``: how long the entry must stay absent (it is written just after the job ends).
        """
        deadline = time.time() + timeout
        absent_since = None
        while time.time() < deadline:
            if any(self.ha_storage_dir.rglob(f"{job_id}_DIRTY.json")):
                absent_since = None
            elif absent_since is None:
                absent_since = time.time()
            elif time.time() - absent_since >= quiet:
                return
            time.sleep(0.05)
        raise ClusterError(f"job {job_id} still has a dirty job result after {timeout:.0f}s\n{self.log_tail()}")

    # ---- faults
    def kill_jobmanager_of(self, i: int, sig: int = signal.SIGKILL) -> int | None:
        """Kill JobManager i (SIGKILL by default: a lost pod); returns the pid killed."""
        pid = self.jm_pids[i]
        if pid is None or not _pid_alive(pid):
            return None
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        self._wait_gone([pid])
        if _pid_alive(pid):
            raise ClusterError(f"JobManager {i} (pid {pid}) survived signal {sig}")
        return pid

    def restart_jobmanager_of(self, i: int, wipe_upload_dir: bool = True,
                              timeout: float = START_TIMEOUT) -> dict:
        """Kill JobManager i if alive and start a new one; waits until its REST answers /overview.

        ``wipe_upload_dir``: the new process starts with an empty ``web.upload.dir`` (a new pod).
        """
        self.kill_jobmanager_of(i)
        if wipe_upload_dir:
            shutil.rmtree(self.upload_dir(i), ignore_errors=True)
        self._start_jobmanager(i)
        return self.wait_ready_jm(i, timeout=timeout)

    def rebuild(self, timeout: float = START_TIMEOUT) -> "HaCluster":
        """Stop every process and start a new cluster of the same version in a new directory,
        with a new ZooKeeper and cluster id (its ports and URLs change): after
        ``FlinkCannotRecover``, so the tests after it get a working cluster."""
        self.stop(keep=False)
        if self._base_dir_arg is None:
            self.base_dir = None
        self.cluster_id = f"flinkops-{uuid.uuid4().hex[:8]}"
        self.zk = None
        return self.start(timeout=timeout)

    def kill_taskmanager(self, sig: int = signal.SIGKILL) -> list:
        pids = self._tm_pids()
        for p in pids:
            os.kill(p, sig)
        self._wait_gone(pids)
        return pids

    def restart_taskmanager(self, timeout: float = START_TIMEOUT) -> dict:
        self.kill_taskmanager()
        self._run_script("taskmanager.sh", self._env())
        return self.wait_ready(timeout=timeout)

    # ---- processes and logs
    def _jm_pids(self) -> list:
        pids = []
        for i in range(JOBMANAGERS):
            if self.base_dir is not None and self.jm_pid_dir(i).exists():
                pids += self._pids_in(self.jm_pid_dir(i), "standalonesession")
        return pids

    def pids(self) -> dict:
        return {"jobmanagers": list(self.jm_pids), "taskmanager": self._tm_pids(),
                "zookeeper": self.zk.pid if self.zk else None}

    def _own_pids(self) -> list:
        """Live Java processes whose command line names this cluster's base dir, plus pid files."""
        pids = set(self._jm_pids() + self._tm_pids())
        pids |= {p for p in self.jm_pids if p is not None and _pid_alive(p)}
        if self.base_dir is not None:
            marker = f"{self.base_dir}/"
            zk_pid = self.zk.pid if self.zk else None
            for d in os.listdir("/proc"):
                if d.isdigit() and int(d) not in (os.getpid(), zk_pid):
                    cmd = _pid_cmdline(int(d))
                    if "java" in cmd and marker in cmd and "FlinkZooKeeperQuorumPeer" not in cmd \
                            and _pid_alive(int(d)):
                        pids.add(int(d))
        return sorted(pids)

    def stop(self, keep: bool | None = None) -> None:
        keep = self.keep if keep is None else keep
        if self.base_dir is None:
            return
        errors = []
        pids = self._own_pids()
        self._kill(pids)
        alive = [p for p in pids if _pid_alive(p)]
        if alive:
            errors.append(f"processes {alive} survived SIGKILL")
        if self.zk is not None:
            try:
                self.zk.stop()
            except Exception as e:
                errors.append(str(e))
        self.jm_pids = [None] * JOBMANAGERS
        with _RUNNING_LOCK:
            if self in _RUNNING:
                _RUNNING.remove(self)
        self.started = False
        if errors:
            raise ClusterError(f"stopping {self.name}: {'; '.join(errors)}")
        if not keep and self._base_dir_arg is None:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def jobmanager_log(self, i: int) -> str:
        """The current log file of JobManager i (rotated ones, of earlier processes, excluded)."""
        files = sorted(self.jm_log_dir(i).glob("*standalonesession*.log"))
        return "".join(f.read_text(errors="replace") for f in files)

    def jobmanagerlog(self) -> str:
        return "".join(self.jobmanager_log(i) for i in range(JOBMANAGERS))

    def log_tail(self, lines: int = 40) -> str:
        if self.base_dir is None:
            return ""
        parts = []
        dirs = [("taskmanager", self.log_dir)] + [(f"jm{i}", self.jm_log_dir(i)) for i in range(JOBMANAGERS)]
        if self.zk is not None:
            dirs.append(("zookeeper", self.zk.log_dir))
        for label, d in dirs:
            if not d.exists():
                continue
            for f in sorted(d.iterdir()):
                if f.suffix in (".log", ".out") and f.is_file():
                    text = f.read_text(errors="replace").splitlines()[-lines:]
                    parts.append(f"---- {label}/{f.name} (last {lines} lines)\n" + "\n".join(text))
        return "\n".join(parts)

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version, "urls": self.urls, "cluster_id": self.cluster_id,
                "zookeeper": self.zk.address if self.zk and self.zk.port else None,
                "home": str(self.home) if self.home else None,
                "base_dir": str(self.base_dir) if self.base_dir else None,
                "savepoint_dir": str(self.savepoint_dir), "checkpoint_dir": str(self.checkpoint_dir),
                "pids": self.pids(), "start_seconds": self.start_seconds}

    def _save_state(self) -> None:  # no CLI for HA clusters: nothing to save
        pass

    def __enter__(self) -> "HaCluster":
        return self.start()

    def __repr__(self) -> str:
        return f"<HaCluster {self.name} flink={self.version} urls={self.urls}>"
