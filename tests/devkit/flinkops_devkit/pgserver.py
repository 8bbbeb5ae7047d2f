# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A real PostgreSQL for tests: Debian's server binaries (``postgresql-15``, ``make system-deps``).

    with PostgreSQL(tmp_dir) as pg:
        pg.url          # postgresql://flinkops:<password>@127.0.0.1:<port>/flinkops (password auth)
        pg.admin_url    # the superuser's URL (postgres, with its password)

The cluster listens on 127.0.0.1 only, on a port from ``flinkctl.free_port``, with
``scram-sha-256`` password authentication for TCP (its Unix socket sits in a private
directory and trusts local users). Run as root, initdb/pg_ctl run as the ``postgres`` user
(``runuser``) and the data directory lives in a private temporary directory ``postgres`` owns
(``base_dir`` keeps the log); otherwise as the current user under ``base_dir``.
``stop()`` uses ``pg_ctl stop`` and, if that fails, signals the postmaster by its pid.
``start()`` after ``stop()`` restarts the same cluster on the same port; ``destroy()`` (the
context manager's exit, and at interpreter exit) stops it and removes the private data directory.
"""
from __future__ import annotations

import atexit
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from flinkops_devkit.flinkctl import free_port

__all__ = ["PostgreSQL", "PostgresError", "server_bin_dir"]

START_TIMEOUT = float(os.environ.get("FLINKOPS_PG_START_TIMEOUT") or 60.0)


class PostgresError(RuntimeError):
    """PostgreSQL could not be found or started."""


def server_bin_dir() -> str:
    """Debian's server binaries (the newest installed major), or PostgresError."""
    wanted = os.environ.get("FLINKOPS_PG_BIN")
    candidates = [wanted] if wanted else sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0,
        reverse=True)
    for candidate in candidates:
        if candidate and os.access(os.path.join(candidate, "initdb"), os.X_OK) \
                and os.access(os.path.join(candidate, "pg_ctl"), os.X_OK):
            return candidate
    raise PostgresError("no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin: "
                        "`make system-deps` installs them (apt-get install postgresql-15)")


class PostgreSQL:
    """One throw-away PostgreSQL cluster with a password-authenticated user and its database."""

    def __init__(self, base_dir, user="flinkops", database="flinkops"):
        self.base_dir = Path(base_dir)
        self.user = user
        self.database = database
        self.password = "pw-" + uuid.uuid4().hex
        self.admin_user = "postgres"
        self.admin_password = "admin-" + uuid.uuid4().hex
        self.port = None
        self.bin_dir = None
        self.data_root = None  # the private directory that holds the data directory and socket
        self.log_path = self.base_dir / "postgresql.log"
        self._as_postgres = os.geteuid() == 0
        self._initialized = False
        self._own_root = False

    # ------------------------------------------------------------------ addresses

    @property
    def url(self) -> str:
        return "postgresql://%s:%s@127.0.0.1:%d/%s" % (self.user, self.password, self.port, self.database)

    @property
    def admin_url(self) -> str:
        return "postgresql://%s:%s@127.0.0.1:%d/postgres" % (self.admin_user, self.admin_password, self.port)

    @property
    def data_dir(self) -> Path:
        return Path(self.data_root) / "data"

    # ------------------------------------------------------------------ lifecycle

    def _run(self, argv, check=True, timeout=120):
        if self._as_postgres:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              timeout=timeout, cwd="/", check=False)
        if check and proc.returncode != 0:
            output = proc.stdout.decode(errors="replace")[-3000:]
            raise PostgresError("%s failed (exit %d):\n%s" % (" ".join(argv), proc.returncode, output))
        return proc

    def _init(self):
        self.bin_dir = server_bin_dir()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            self.data_root = tempfile.mkdtemp(prefix="flinkops-pg-")  # 0700; /tmp's parents are world-readable
            shutil.chown(self.data_root, "postgres", "postgres")
            self._own_root = True
            # stop() keeps the cluster for a restart; the private directory goes at exit at the latest.
            atexit.register(self.destroy)
            # The log lives in base_dir, which postgres may not reach: pg_ctl writes it in data_root.
            self.log_path = Path(self.data_root) / "postgresql.log"
        else:
            self.data_root = str(self.base_dir / "pg")
            os.makedirs(self.data_root, mode=0o700, exist_ok=True)
        pwfile = Path(self.data_root) / "pwfile"
        pwfile.write_text(self.admin_password + "\n")
        os.chmod(pwfile, 0o600)
        if self._as_postgres:
            shutil.chown(pwfile, "postgres", "postgres")
        try:
            self._run([os.path.join(self.bin_dir, "initdb"), "-D", str(self.data_dir), "-U", self.admin_user,
                       "--pwfile", str(pwfile), "--auth-local=trust", "--auth-host=scram-sha-256",
                       "-E", "UTF8", "--locale=C", "--no-sync"])
        finally:
            pwfile.unlink()
        with open(self.data_dir / "pg_hba.conf", "w") as hba:
            hba.write("local all all trust\n"
                      "host all all 127.0.0.1/32 scram-sha-256\n")
        self.port = free_port()
        self._initialized = True

    def start(self):
        if self.running:
            return self
        first = not self._initialized
        if first:
            self._init()
        options = ("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
                   "-c full_page_writes=off -c shared_buffers=16MB -c max_connections=60"
                   % (self.port, self.data_root))
        try:
            self._run([os.path.join(self.bin_dir, "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_path),
                       "-o", options, "-w", "-t", str(int(START_TIMEOUT)), "start"], timeout=START_TIMEOUT + 30)
            if first:
                self._create_user()
        except BaseException as exc:
            tail = self._tail()
            self.stop()
            if isinstance(exc, PostgresError):
                raise PostgresError("%s\n%s" % (exc, tail))
            raise
        return self

    def _create_user(self):
        import psycopg  # the test venv has it (requirements/stores.txt)
        from psycopg import sql

        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                conn = psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5)
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        with conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(self.user), sql.Literal(self.password)))
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(self.database), sql.Identifier(self.user)))

    def _tail(self, lines=30) -> str:
        try:
            return "\n".join(Path(self.log_path).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _postmaster_pid(self):
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError, TypeError):
            return None

    @property
    def running(self) -> bool:
        if not self._initialized:
            return False
        pid = self._postmaster_pid()
        return pid is not None and self._alive(pid)

    def stop(self, mode="fast"):
        """Stop the server (keeps the cluster: ``start()`` brings it back on the same port)."""
        if not self._initialized or self.data_root is None:
            return
        pid = self._postmaster_pid()
        if pid is None:
            return
        try:
            self._run([os.path.join(self.bin_dir, "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w",
                       "-t", "30", "stop"], check=False, timeout=60)
        except subprocess.TimeoutExpired:
            pass
        if self._alive(pid):
            try:
                os.kill(pid, signal.SIGQUIT)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + 10
            while self._alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if self._alive(pid):
                os.kill(pid, signal.SIGKILL)

    @staticmethod
    def _alive(pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # A zombie is not alive (it is not our child when started by pg_ctl, init reaps it).
        try:
            with open("/proc/%d/stat" % pid) as stat:
                return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    def destroy(self):
        """Stop the server and remove its private data directory (the log is copied to base_dir)."""
        self.stop(mode="immediate")
        if self._own_root and self.data_root and os.path.isdir(self.data_root):
            try:
                shutil.copy(self.log_path, self.base_dir / "postgresql.log")
            except OSError:
                pass
            shutil.rmtree(self.data_root, ignore_errors=True)
            self.data_root = None
            self._initialized = False

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.destroy()
