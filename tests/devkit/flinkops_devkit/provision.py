# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a local Flink cluster needs on disk: the distribution, and the test jobs built for it.

Stdlib only.

    VERSIONS                      minor -> exact latest patch version on PyPI
    resolve_version(v) -> str     "2.3" -> "2.3.0"; exact versions pass through
    cache_root() -> Path          ${FLINKOPS_CACHE:-~/.cache/flinkops}
    provision(version) -> Path    Flink home (bin, lib, opt, conf, plugins), from the PyPI wheels
    build_jobs(version) -> dict   {"stateful-v1": path, "stateful-v2": path,
                                   "stateful-incompatible": path, "entry_class": "...",
                                   "zoo": {job: {"entry_class", "jar", "jars"}}}

The Java sources of the test jobs live in the checkout, in tests/flink/jobs/: those of the checkout
the current directory is in, else those of the checkout the package was installed (editable) from;
FLINKOPS_JOBS_SRC points elsewhere.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

# Latest patch releases on PyPI (apache-flink and apache-flink-libraries), checked with
# `pip index versions apache-flink` / `pip download`.
VERSIONS = {
    "1.18": "1.18.1",
    "1.19": "1.19.3",
    "1.20": "1.20.5",
    "2.0": "2.0.2",
    "2.1": "2.1.3",
    "2.2": "2.2.1",
    "2.3": "2.3.0",
}

DIST_DIRS = ("bin", "lib", "opt", "conf", "plugins")


def _jobs_src() -> Path:
    """The test jobs' Java sources: $FLINKOPS_JOBS_SRC, else those of the checkout the current
    directory is in (a git worktree of the project uses its own), else those of the checkout
    this package was installed (editable) from."""
    if os.environ.get("FLINKOPS_JOBS_SRC"):
        return Path(os.environ["FLINKOPS_JOBS_SRC"])
    for folder in (Path.cwd(), *Path.cwd().parents):
        if (folder / "galaxy.yml").is_file() and (folder / "tests" / "flink" / "jobs").is_dir():
            return folder / "tests" / "flink" / "jobs"
    # tests/devkit/flinkops_devkit/provision.py -> tests/flink/jobs
    return Path(__file__).resolve().parents[2] / "flink" / "jobs"


JOBS_SRC = _jobs_src()
ENTRY_CLASS = "org.flinkops.testjob.StatefulJob"
# name -> content of the resource flinkops-test-version.txt inside the JAR
JOB_VARIANTS = {
    "stateful-v1": "v1",
    "stateful-v2": "v2",
    "stateful-incompatible": "incompatible",
}
VERSION_RESOURCE = "flinkops-test-version.txt"
# The zoo of realistic test jobs (tests/flink/jobs/org/flinkops/zoo): job -> entry class. Every JAR
# holds every class, so each zoo job runs from the same v1/v2/incompatible JARs as the sample job,
# with its own entry class; each class documents its arguments and output.
ZOO_JOBS = {
    "few-splits": "org.flinkops.zoo.FewSplitsJob",
    "side-input": "org.flinkops.zoo.SideInputJoinJob",
    "event-time-window": "org.flinkops.zoo.EventTimeWindowJob",
    "broadcast": "org.flinkops.zoo.BroadcastStateJob",
    "sql": "org.flinkops.zoo.SqlRunner",
    "no-checkpoint": "org.flinkops.zoo.NoCheckpointJob",
    "rocksdb": "org.flinkops.zoo.RocksDbJob",
    "computed-name": "org.flinkops.zoo.ComputedNameJob",
}


# --------------------------------------------------------------------------- versions


def resolve_version(version: str) -> str:
    """Map a minor ("2.3") through VERSIONS; exact versions ("1.20.1") pass through."""
    version = str(version).strip()
    if version in VERSIONS:
        return VERSIONS[version]
    if version.count(".") == 2 and all(p.isdigit() for p in version.split(".")):
        return version
    raise ValueError(f"unknown Flink version {version!r}; known minors: {sorted(VERSIONS)}")


def major(version: str) -> int:
    return int(resolve_version(version).split(".")[0])


def cache_root() -> Path:
    root = os.environ.get("FLINKOPS_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "flinkops")
    p = Path(root)
    p.mkdir(parents=True, exist_ok=True)
    return p


@contextlib.contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def log(msg: str) -> None:
    print(f"[flinkctl] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- provision


def _dist_relpath(name: str) -> str | None:
    """Map an archive member to its place in the Flink home, or None to skip it.

    Wheels: pyflink/<dir>/...; sdists: <package>-V/deps/<dir>/...
    """
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        return None
    if len(parts) >= 3 and parts[0] == "pyflink" and parts[1] in DIST_DIRS:
        rest = parts[1:]
    elif len(parts) >= 4 and parts[1] == "deps" and parts[2] in DIST_DIRS:
        rest = parts[2:]
    else:
        return None
    return "/".join(rest)


def _unpack(archive: Path, dest: Path) -> int:
    count = 0
    if archive.name.endswith(".whl") or archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                rel = _dist_relpath(info.filename)
                if rel is None:
                    continue
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                count += 1
    elif archive.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(archive, "r:gz") as tf:
            for member in tf:
                if not member.isfile():
                    continue
                rel = _dist_relpath(member.name)
                if rel is None:
                    continue
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tf.extractfile(member)
                with src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                count += 1
    else:
        raise RuntimeError(f"unexpected archive {archive}")
    return count


def _pip_download(version: str, dest: Path) -> list[Path]:
    """Download apache-flink-libraries and apache-flink (no deps) into dest.

    Only the Java distribution inside is used, so any wheel will do: one for this Python,
    else one for CPython 3.11 (apache-flink has no wheel for 3.13, the Python of
    ansible-core 2.21), else the sdist (libraries <= 2.1, apache-flink 1.18).
    """
    base = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
            "-q", "-d", str(dest)]
    for pkg in ("apache-flink-libraries", "apache-flink"):
        attempts = [base + ["--only-binary=:all:", f"{pkg}=={version}"],
                    base + ["--only-binary=:all:", "--python-version", "3.11", f"{pkg}=={version}"],
                    base + [f"{pkg}=={version}"]]
        last = None
        for cmd in attempts:
            last = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
            if last.returncode == 0:
                break
        else:
            raise RuntimeError(f"pip download {pkg}=={version} failed:\n{last.stdout[-4000:]}")
    files = sorted(p for p in dest.iterdir() if p.is_file())
    if len(files) < 2:
        raise RuntimeError(f"pip download left {files} in {dest}")
    return files


def provision(version: str) -> Path:
    """Provision Flink `version` (minor or exact) into the cache and return its home."""
    exact = resolve_version(version)
    root = cache_root()
    home = root / f"flink-{exact}"
    marker = home / ".flinkops-complete"
    if marker.exists():
        return home
    with _file_lock(root / f".flink-{exact}.lock"):
        if marker.exists():
            return home
        started = time.time()
        log(f"provisioning Flink {exact} into {home}")
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-flink-{exact}-", dir=root))
        try:
            dl = tmp / "download"
            dl.mkdir()
            stage = tmp / "dist"
            stage.mkdir()
            archives = _pip_download(exact, dl)
            for archive in archives:
                _unpack(archive, stage)
                archive.unlink()  # save disk
            for d in ("bin", "lib", "conf"):
                if not (stage / d).is_dir():
                    raise RuntimeError(f"Flink {exact}: no {d}/ in {[a.name for a in archives]}")
            for f in (stage / "bin").iterdir():
                if f.is_file():
                    f.chmod(0o755)
            (stage / ".flinkops-complete").write_text(f"{exact}\n")
            # jobs/ built by build_jobs() may exist in an incomplete home: keep nothing of it.
            if home.exists():
                shutil.rmtree(home)
            os.rename(stage, home)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        log(f"provisioned Flink {exact} in {time.time() - started:.1f}s")
    return home


# --------------------------------------------------------------------------- jobs


def _sources() -> list[Path]:
    if not JOBS_SRC.is_dir():
        raise RuntimeError(f"no test job sources in {JOBS_SRC}: install flinkops_devkit editable from a "
                           "checkout (pip install -e tests/devkit) or set FLINKOPS_JOBS_SRC")
    return sorted(JOBS_SRC.rglob("*.java"))


def build_jobs(version: str) -> dict:
    """Compile tests/flink/jobs/**/*.java against Flink `version` and package the JARs.

    Returns {"stateful-v1": "/…/stateful-v1.jar", "stateful-v2": ..., "stateful-incompatible":
    ..., "entry_class": "org.flinkops.testjob.StatefulJob", "zoo": {"few-splits": {"entry_class":
    "org.flinkops.zoo.FewSplitsJob", "jar": <the v1 JAR>, "jars": {"v1": ..., "v2": ...,
    "incompatible": ...}}, ...}} (see ZOO_JOBS). JARs live in
    <home>/jobs/<hash>/ where hash covers the sources and the variants, so they are rebuilt
    only when a source changes.
    """
    exact = resolve_version(version)
    home = provision(exact)
    h = hashlib.sha256()
    h.update(f"{exact}\n{ENTRY_CLASS}\n{json.dumps(JOB_VARIANTS, sort_keys=True)}\nrelease11\n".encode())
    h.update(json.dumps(ZOO_JOBS, sort_keys=True).encode())
    for src in _sources():
        h.update(str(src.relative_to(JOBS_SRC)).encode() + b"\0")
        h.update(src.read_bytes() + b"\0")
    digest = h.hexdigest()[:12]
    out_dir = home / "jobs" / digest
    result = {name: str(out_dir / f"{name}.jar") for name in JOB_VARIANTS}
    result["entry_class"] = ENTRY_CLASS
    jars_by_version = {variant: result[name] for name, variant in JOB_VARIANTS.items()}
    result["zoo"] = {job: {"entry_class": cls, "jar": jars_by_version["v1"], "jars": dict(jars_by_version)}
                     for job, cls in ZOO_JOBS.items()}
    stamp = out_dir / ".complete"
    if stamp.exists():
        return result
    with _file_lock(home / "jobs" / ".build.lock"):
        if stamp.exists():
            return result
        tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=home / "jobs"))
        try:
            classes = tmp / "classes"
            classes.mkdir()
            cmd = ["javac", "--release", "11", "-nowarn", "-encoding", "UTF-8",
                   "-cp", str(home / "lib") + "/*", "-d", str(classes)] + [str(s) for s in _sources()]
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
            if proc.returncode != 0:
                raise RuntimeError(f"javac failed for Flink {exact}:\n{proc.stdout}")
            jars = tmp / "jars"
            jars.mkdir()
            class_files = sorted(p for p in classes.rglob("*") if p.is_file())
            manifest = ("Manifest-Version: 1.0\r\nCreated-By: flinkops test harness\r\n"
                        f"Main-Class: {ENTRY_CLASS}\r\n\r\n")
            for name, variant in JOB_VARIANTS.items():
                with zipfile.ZipFile(jars / f"{name}.jar", "w", zipfile.ZIP_DEFLATED) as zf:
                    fixed = (2020, 1, 1, 0, 0, 0)
                    zf.writestr(zipfile.ZipInfo("META-INF/", fixed), b"")
                    zf.writestr(zipfile.ZipInfo("META-INF/MANIFEST.MF", fixed), manifest)
                    zf.writestr(zipfile.ZipInfo(VERSION_RESOURCE, fixed), variant + "\n")
                    for cf in class_files:
                        zf.writestr(zipfile.ZipInfo(cf.relative_to(classes).as_posix(), fixed),
                                    cf.read_bytes())
            (jars / ".complete").write_text(digest + "\n")
            if out_dir.exists():
                shutil.rmtree(out_dir)
            os.rename(jars, out_dir)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return result
