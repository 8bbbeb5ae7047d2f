# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared paths and fixtures for the execution environment tests (``make ee``).

Run from the checkout with PYTHONPATH=build (``make ee``): ``build/`` holds the
collection mirror that ansible-builder introspects and ansible-galaxy builds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from flinkops_devkit import flinkctl
from flinkops_devkit.observer import Flink

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
COLLECTION = BUILD / "ansible_collections" / "flinkops" / "flink"
EE_DEFINITION = ROOT / "execution-environment" / "execution-environment.yml"
# Where execution-environment.yml's additional_build_files expects the tarball.
EE_TARBALL = BUILD / "ee-collection" / "flinkops-flink.tar.gz"


ENGINE = os.environ.get("CONTAINER_ENGINE", "podman")
# The images run as UID 1000, group 0: what they must read or write is opened up to that.
OPEN_DIR, OPEN_FILE = 0o777, 0o644


def engine(*args, **kwargs):
    """The container engine (podman) with ``args``, its output captured."""
    return run([ENGINE] + list(args), **kwargs)


def require_image(image, make_target):
    proc = engine("image", "exists", image)
    assert proc.returncode == 0, "no image %s: run `make %s`" % (image, make_target)


@pytest.fixture
def flink(flink_cluster):
    return Flink(flink_cluster)


def tool(name):
    """An executable of the venv running pytest (ansible-builder, ansible-galaxy, ...)."""
    return str(Path(sys.executable).parent / name)


def run(cmd, **kwargs):
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    kwargs.setdefault("timeout", 600)
    return subprocess.run([str(c) for c in cmd], check=False, **kwargs)


def ee_definition():
    return yaml.safe_load(EE_DEFINITION.read_text())


def introspect():
    """``ansible-builder introspect --sanitize build`` as {"python": [...], "system": [...]}."""
    proc = run([tool("ansible-builder"), "introspect", "--sanitize", BUILD])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return yaml.safe_load(proc.stdout)


@pytest.fixture(scope="session")
def collection_tarball():
    """``ansible-galaxy collection build`` of the build tree, where the EE definition takes it from."""
    assert (COLLECTION / "galaxy.yml").is_file(), "run through make (make collection first)"
    out = EE_TARBALL.parent
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("flinkops-flink-*.tar.gz"):
        old.unlink()
    proc = run([tool("ansible-galaxy"), "collection", "build", "--force", "--output-path", out,
                COLLECTION])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    built = list(out.glob("flinkops-flink-*.tar.gz"))
    assert len(built) == 1, built
    os.replace(built[0], EE_TARBALL)
    return EE_TARBALL


@pytest.fixture(scope="session")
def ee_flink():
    """One real Flink cluster (first of FLINKOPS_TEST_FLINK_VERSIONS, default 2.3), stopped at the end."""
    version = (os.environ.get("FLINKOPS_TEST_FLINK_VERSIONS") or "2.3").split(",")[0].strip()
    jobs = flinkctl.build_jobs(version)
    cluster = flinkctl.Cluster(version, name="ee-%s" % uuid.uuid4().hex[:6])
    try:
        cluster.start()
        cluster.jobs = jobs
        yield cluster
    finally:
        cluster.stop()
