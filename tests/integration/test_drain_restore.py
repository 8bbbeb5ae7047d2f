# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Drain a session cluster, upgrade Flink, restore every job (playbooks drain.yml and restore.yml).

Each test starts its own clusters (flinkctl.Cluster), pointed at one savepoint directory the
way two installations share a savepoint store, and stops them all."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
import uuid

import pytest

from flinkops_devkit import flinkctl
from flinkops_devkit.modules import collection_root, run_module
from flinkops_devkit.observer import Flink
from flinkops_devkit.playbooks import ansible_env, playbook_command, run_playbook

KEYS = 4
_COUNT = re.compile(r"FLINKOPS COUNT key=(\d+) count=(\d+) offset=(\d+) version=(\S+) tag=(\S*)")


def playbook(name):
    return os.path.join(collection_root(), "ansible_collections", "flinkops", "flink",
                        "playbooks", name)


def savepoint_key(version):
    return ("execution.checkpointing.savepoint-dir" if flinkctl.major(version) >= 2
            else "state.savepoints.dir")


def cluster(version, savepoints, slots=4):
    """A cluster of its own whose savepoints go to the shared directory ``savepoints``."""
    jobs = flinkctl.build_jobs(version)
    # Several engineers' clusters share two cores here: Flink's start script alone can take
    # longer than the harness waits for it, so a start that times out is tried again.
    for attempt in (1, 2, 3):
        started = flinkctl.Cluster(version, name="drain-%s" % uuid.uuid4().hex[:6], slots=slots,
                                   extra_config={savepoint_key(version): savepoints.as_uri()})
        started.jobs = jobs
        try:
            return started.start(timeout=300)
        except (flinkctl.ClusterError, subprocess.TimeoutExpired):
            started.stop()
            if attempt == 3:
                raise
    raise AssertionError("unreachable")


def start_job(flink, name, jar):
    result = run_module("flink_job", dict(
        url=flink.url, name=name, jar=str(jar), entry_class=flink.entry_class,
        args=["--name", name, "--tag", name, "--rate", "400", "--keys", str(KEYS)]))
    assert result["action"] == "started", result
    return result["job_id"]


def ledger(flink, tag):
    """[(key, count, offset)] of one job's COUNT lines, in order, from the TaskManager output."""
    lines = []
    for line in flink.cluster.taskmanager_stdout().splitlines():
        match = _COUNT.search(line)
        if match and match.group(5) == tag:
            lines.append(tuple(int(match.group(i)) for i in (1, 2, 3)))
    return lines


def assert_exactly_once(tag, before, after):
    """Every record counted once across the move: the source position and the keyed counts
    both came from the savepoint, so each key's count is the number of offsets of that key up
    to the current one (offset // KEYS + 1), before and after; the new cluster goes on where
    the old one stopped (each key's first count there is its last count before + 50)."""
    assert before and after, (tag, before[-3:], after[:3])
    for key, count, offset in before + after:
        assert offset % KEYS == key and count == offset // KEYS + 1, (tag, key, count, offset)
    for key in range(KEYS):
        old = [c for k, c, _offset in before if k == key]
        new = [c for k, c, _offset in after if k == key]
        if old and new:
            assert new[0] == old[-1] + 50, (tag, key, old[-2:], new[:2])


def wait_ledger(flink, tag, minimum=2, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        lines = ledger(flink, tag)
        if len(set(line[0] for line in lines)) == KEYS and len(lines) >= minimum * KEYS:
            return lines
        time.sleep(0.5)
    raise AssertionError("job %s printed no COUNT lines on %s" % (tag, flink.url))


def stop_savepoint(flink, job_id, timeout=30):
    deadline = time.time() + timeout
    while True:
        found = (flink.checkpoints(job_id).get("latest") or {}).get("savepoint")
        if found:
            return found["external_path"]
        assert time.time() < deadline, "job %s lists no savepoint" % job_id
        time.sleep(0.5)


def read_manifest(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def by_name(manifest):
    return dict((entry["name"], entry) for entry in manifest["jobs"])


@pytest.mark.parametrize("old_version,new_version", [("2.2", "2.3"), ("1.19", "1.20")])
def test_drain_upgrade_restore(tmp_path, old_version, new_version):
    savepoints = tmp_path / "savepoints"
    jars = tmp_path / "jars"
    jars.mkdir()
    manifest = tmp_path / "manifest.json"
    prefix = "upgrade-%s" % uuid.uuid4().hex[:6]
    names = ["%s-%d" % (prefix, i) for i in range(3)]

    with cluster(old_version, savepoints) as old_cluster:
        old = Flink(old_cluster)
        jar = jars / "stateful-job.jar"
        shutil.copy(old.jobs["stateful-v1"], jar)
        old_ids = dict((name, start_job(old, name, jar)) for name in names)
        for name in names:
            wait_ledger(old, name)

        drained = run_playbook(playbook("drain.yml"), dict(
            flink_manifest=str(manifest), cluster_drain_url=old.url), tmp_path)
        assert drained.rc == 0, drained.output[-4000:]
        written = by_name(read_manifest(manifest))
        assert sorted(written) == names
        for name in names:
            entry = written[name]
            assert entry["status"] == "drained" and entry["job_id"] == old_ids[name], entry
            assert entry["flink_version"] == old_cluster.version and entry["time"], entry
            # The sample's entry class is its JAR's Main-Class: one spec with naming none.
            assert entry["managed"] and entry["spec"]["entry_class"] is None, entry
            assert entry["spec"]["args"][:2] == ["--name", name], entry
            assert entry["jar"]["sha256_prefix"] == hashlib.sha256(jar.read_bytes()).hexdigest()[:16], entry
            assert entry["jar"]["name"].startswith("stateful-job-sha256-"), entry
            # Stopped with a savepoint (FINISHED, not cancelled), in the shared directory.
            assert old.state(old_ids[name]) == "FINISHED"
            assert str(savepoints) in entry["savepoint"], entry
        before = dict((name, ledger(old, name)) for name in names)

    # The old cluster is gone; the new version reads the same savepoint directory.
    with cluster(new_version, savepoints) as new_cluster:
        new = Flink(new_cluster)
        variables = dict(flink_manifest=str(manifest), flink_jar_dirs=[str(jars)],
                         cluster_restore_url=new.url, cluster_restore_health_window=2)
        restored = run_playbook(playbook("restore.yml"), variables, tmp_path)
        assert restored.rc == 0, restored.output[-4000:]
        report = dict((job["name"], job) for job in restored.stats["cluster_restore_result"])
        for name in names:
            job = new.the_running_job(name)
            assert report[name]["outcome"] == "started" and report[name]["job_id"] == job["jid"]
            # Another cluster, the same job: never the drained job's id (clusters that share
            # checkpoint storage keep checkpoints under the job id).
            assert job["jid"] != old_ids[name]
            origin = new.wait_restored(job["jid"])
            assert origin["is_savepoint"] and origin["external_path"] == written[name]["savepoint"]
            assert_exactly_once(name, before[name], wait_ledger(new, name, minimum=1))

        again = run_playbook(playbook("restore.yml"), variables, tmp_path)
        assert again.rc == 0 and again.recap["changed"] == 0, again.output[-4000:]
        assert all(job["outcome"] == "unchanged" for job in again.stats["cluster_restore_result"])
        for name in names:
            assert new.the_running_job(name)["jid"] == report[name]["job_id"]


def test_interrupted_drain_is_finished_and_a_missing_jar_is_named(tmp_path):
    version = os.environ.get("FLINKOPS_TEST_FLINK_VERSIONS", "2.3").split(",")[0].strip()
    savepoints = tmp_path / "savepoints"
    jars = tmp_path / "jars"
    jars.mkdir()
    manifest = tmp_path / "manifest.json"
    prefix = "interrupted-%s" % uuid.uuid4().hex[:6]
    names = ["%s-%d" % (prefix, i) for i in range(3)]

    with cluster(version, savepoints) as flink_cluster:
        flink = Flink(flink_cluster)
        v1 = jars / "stateful-job.jar"
        shutil.copy(flink.jobs["stateful-v1"], v1)
        other = tmp_path / "other-job.jar"  # the third job's JAR: not in the JAR directory
        shutil.copy(flink.jobs["stateful-v2"], other)
        ids = dict((name, start_job(flink, name, v1 if i < 2 else other))
                   for i, name in enumerate(names))
        for name in names:
            wait_ledger(flink, name, minimum=1)

        # Kill the drain once the first job is recorded as drained.
        variables = dict(flink_manifest=str(manifest), cluster_drain_url=flink.url,
                         cluster_drain_parallel=1)
        proc = subprocess.Popen(playbook_command(playbook("drain.yml"), variables, tmp_path),
                                env=ansible_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 300
        first = None
        while first is None and time.time() < deadline and proc.poll() is None:
            if manifest.exists():
                done = [e for e in read_manifest(manifest)["jobs"] if e["status"] == "drained"]
                first = done[0] if done else None
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert first is not None, "the drain recorded no job before it was killed"
        partial = by_name(read_manifest(manifest))
        assert [e["status"] for e in partial.values()].count("drained") < 3, partial

        finished = run_playbook(playbook("drain.yml"), variables, tmp_path)
        assert finished.rc == 0, finished.output[-4000:]
        written = by_name(read_manifest(manifest))
        assert sorted(written) == names
        # The first job's entry is the one written before the kill; every job stopped once.
        assert written[first["name"]]["savepoint"] == first["savepoint"]
        for name in names:
            assert written[name]["status"] == "drained" and written[name]["savepoint"], written[name]
            assert flink.state(ids[name]) == "FINISHED"
            assert not flink.active(name)
            # The savepoint Flink says stopped the job (listed ~3 s after the stop).
            assert stop_savepoint(flink, ids[name]) == written[name]["savepoint"]

        # Restore with the third job's JAR missing: it is named, the others run.
        restored = run_playbook(playbook("restore.yml"), dict(
            flink_manifest=str(manifest), flink_jar_dirs=[str(jars)],
            cluster_restore_url=flink.url, cluster_restore_health_window=1), tmp_path)
        assert restored.rc != 0
        assert "1 of 3 jobs did not come back: %s (jar_missing" % names[2] in restored.output, \
            restored.output[-4000:]
        assert not flink.active(names[2])
        for name in names[:2]:
            job = flink.the_running_job(name)
            origin = flink.wait_restored(job["jid"])
            assert origin["external_path"] == written[name]["savepoint"]


def submit_unmanaged(flink, name, jar):
    """A job started without this collection (raw REST, like `flink run`): Flink knows no spec."""
    status, uploaded = flinkctl.upload_jar(flink.url, str(jar))
    assert status == 200, uploaded
    jar_id = uploaded["filename"].rsplit("/", 1)[-1]
    status, answer = flinkctl.rest(flink.url, "POST", "/jars/%s/run" % jar_id, dict(
        entryClass=flink.entry_class,
        programArgsList=["--name", name, "--tag", name, "--rate", "400", "--keys", str(KEYS)]))
    assert status == 200, answer
    return answer["jobid"]


def test_jobs_not_started_by_the_collection(tmp_path):
    """Listed as left running with what Flink tells about them; stopped with cluster_drain_all_jobs;
    restored with the spec the user gives in cluster_restore_specs."""
    version = os.environ.get("FLINKOPS_TEST_FLINK_VERSIONS", "2.3").split(",")[0].strip()
    savepoints = tmp_path / "savepoints"
    manifest = tmp_path / "manifest.json"
    prefix = "unmanaged-%s" % uuid.uuid4().hex[:6]
    managed, foreign = prefix + "-ours", prefix + "-theirs"

    with cluster(version, savepoints) as flink_cluster:
        flink = Flink(flink_cluster)
        jar = tmp_path / "stateful-job.jar"
        shutil.copy(flink.jobs["stateful-v1"], jar)
        start_job(flink, managed, jar)
        foreign_id = submit_unmanaged(flink, foreign, jar)
        wait_ledger(flink, foreign, minimum=1)

        variables = dict(flink_manifest=str(manifest), cluster_drain_url=flink.url)
        drained = run_playbook(playbook("drain.yml"), variables, tmp_path)
        assert drained.rc == 0, drained.output[-4000:]
        written = by_name(read_manifest(manifest))
        assert written[managed]["status"] == "drained", written[managed]
        entry = written[foreign]
        assert entry["status"] == "left_running" and not entry["managed"] and entry["spec"] is None, entry
        assert entry["job_id"] == foreign_id and entry["flink"]["state"] == "RUNNING", entry
        assert "Left running (not started by flinkops.flink" in drained.output, drained.output[-3000:]
        assert flink.state(foreign_id) == "RUNNING"

        everything = run_playbook(playbook("drain.yml"), dict(variables, cluster_drain_all_jobs=True), tmp_path)
        assert everything.rc == 0, everything.output[-4000:]
        written = by_name(read_manifest(manifest))
        assert written[foreign]["status"] == "drained" and written[foreign]["savepoint"], written[foreign]
        assert flink.state(foreign_id) == "FINISHED"
        before = ledger(flink, foreign)

        restored = run_playbook(playbook("restore.yml"), dict(
            flink_manifest=str(manifest), cluster_restore_url=flink.url, flink_jar_dirs=[str(tmp_path)],
            cluster_restore_health_window=1,
            cluster_restore_specs={foreign: dict(
                jar=str(jar), entry_class=flink.entry_class,
                args=["--name", foreign, "--tag", foreign, "--rate", "400", "--keys", str(KEYS)])}), tmp_path)
        assert restored.rc == 0, restored.output[-4000:]
        job = flink.the_running_job(foreign)
        assert flink.wait_restored(job["jid"])["external_path"] == written[foreign]["savepoint"]
        after = [line for line in wait_ledger(flink, foreign, minimum=len(before) // KEYS + 2) if line not in before]
        assert_exactly_once(foreign, before, after)


def refused(flink, name, job_id, book, variables, tmp_path, said):
    """The playbook fails saying ``said``, and the job runs on untouched, with no savepoint."""
    run = run_playbook(playbook(book), variables, tmp_path)
    assert run.rc != 0 and said in run.output, run.output[-3000:]
    assert flink.the_running_job(name)["jid"] == job_id
    assert not (flink.checkpoints(job_id).get("latest") or {}).get("savepoint")


def test_check_mode_changes_nothing_and_a_rebuilt_jar_carries_the_state(tmp_path):
    """--check of the drain and of the restore succeeds and leaves jobs, savepoints, uploads and
    records as they were; a restore given a rebuilt JAR of the job (other bytes, the same
    operators: the devkit's stateful-v2) starts it from the drained savepoint, counts going on."""
    version = os.environ.get("FLINKOPS_TEST_FLINK_VERSIONS", "2.3").split(",")[0].strip()
    savepoints = tmp_path / "savepoints"
    manifest = tmp_path / "manifest.json"
    name = "rebuilt-%s" % uuid.uuid4().hex[:6]

    with cluster(version, savepoints) as flink_cluster:
        flink = Flink(flink_cluster)
        jar = tmp_path / "stateful-job.jar"
        shutil.copy(flink.jobs["stateful-v1"], jar)
        job_id = start_job(flink, name, jar)
        wait_ledger(flink, name, minimum=1)
        uploads = flink.jar_names()  # the JAR and the collection's records

        drain = dict(flink_manifest=str(manifest), cluster_drain_url=flink.url)
        # Accepted by the argument specs' types, wrong all the same: refused before any change.
        manifest.write_text('{"format": 1, "jobs": [{"name": "x"')  # a drain manifest cut short
        refused(flink, name, job_id, "drain.yml", drain, tmp_path, "is not JSON (truncated?)")
        manifest.unlink()
        # Each problem is named (several wrong values in one run: one run each costs seconds).
        refused(flink, name, job_id, "drain.yml", dict(drain, cluster_drain_parallel=0, cluster_drain_savepoint_dir="sp"),
                tmp_path, "cluster_drain_parallel must be 1 or more, got 0; cluster_drain_savepoint_dir sp is relative")
        refused(flink, name, job_id, "deploy.yml", dict(
            job_deploy_url=flink.url, job_deploy_name=name, job_deploy_jar=str(jar), job_deploy_keep_jars=-1,
            job_deploy_jar_url="http://127.0.0.1:1/job.jar", job_deploy_jar_checksum="sha256:" + "0" * 64), tmp_path,
            "set one of job_deploy_jar and job_deploy_jar_url, not both; job_deploy_keep_jars must be 0 or more, got -1")

        checked = run_playbook(playbook("drain.yml"), drain, tmp_path, "--check")
        assert checked.rc == 0, checked.output[-4000:]
        assert "would stop %s" % name in checked.output, checked.output[-4000:]
        assert flink.the_running_job(name)["jid"] == job_id
        assert not (flink.checkpoints(job_id).get("latest") or {}).get("savepoint")
        assert not manifest.exists() and flink.jar_names() == uploads

        drained = run_playbook(playbook("drain.yml"), drain, tmp_path)
        assert drained.rc == 0, drained.output[-4000:]
        entry = by_name(read_manifest(manifest))[name]
        assert entry["status"] == "drained", entry
        before = ledger(flink, name)
        uploads = flink.jar_names()

        rebuilt = tmp_path / "rebuilt" / "stateful-job.jar"
        rebuilt.parent.mkdir()
        shutil.copy(flink.jobs["stateful-v2"], rebuilt)
        assert hashlib.sha256(rebuilt.read_bytes()).hexdigest()[:16] != entry["jar"]["sha256_prefix"]
        restore = dict(flink_manifest=str(manifest), cluster_restore_url=flink.url,
                       cluster_restore_jars={name: str(rebuilt)}, cluster_restore_health_window=1)
        truncated = tmp_path / "truncated.json"
        truncated.write_text(manifest.read_text()[:-20])
        for wrong, said in [
                (dict(flink_manifest=str(truncated)), "%s is not JSON (truncated?)" % truncated),
                (dict(cluster_restore_jars={name + "x": str(rebuilt)},
                      cluster_restore_specs={name: dict(jar=str(rebuilt), argz=["--typo"])}),
                 "cluster_restore_jars names %sx, which the manifest does not hold (its jobs: %s); "
                 "cluster_restore_specs has the key argz" % (name, name)),
                (dict(cluster_restore_jars={name: str(tmp_path / "gone.jar")}),
                 "cluster_restore_jars names JAR files that do not exist (or are not files): %s" % (tmp_path / "gone.jar"))]:
            run = run_playbook(playbook("restore.yml"), dict(restore, **wrong), tmp_path)
            assert run.rc != 0 and said in run.output, run.output[-3000:]
            assert not flink.active(name) and flink.jar_names() == uploads

        checked = run_playbook(playbook("restore.yml"), restore, tmp_path, "--check")
        assert checked.rc == 0, checked.output[-4000:]
        assert [job["outcome"] for job in checked.stats["cluster_restore_result"]] == ["would_start"], \
            checked.output[-4000:]
        assert not flink.active(name) and flink.jar_names() == uploads

        restored = run_playbook(playbook("restore.yml"), restore, tmp_path)
        assert restored.rc == 0, restored.output[-4000:]
        job = flink.the_running_job(name)
        assert flink.wait_restored(job["jid"])["external_path"] == entry["savepoint"]
        after = wait_ledger(flink, name, minimum=len(before) // KEYS + 2)[len(before):]
        assert_exactly_once(name, before, after)
        # The rebuilt JAR is the job's version now: a re-run leaves it alone.
        again = run_playbook(playbook("restore.yml"), restore, tmp_path)
        assert again.rc == 0 and again.recap["changed"] == 0, again.output[-4000:]
