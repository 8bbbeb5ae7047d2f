# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A job's versions from its records, and a version number turned into a plain request."""

from __future__ import annotations

import hashlib

import pytest

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._oplog import (
    number_for,
    operation_names,
    read_operations,
    version_numbers,
)
from ansible_collections.flinkops.flink.plugins.module_utils._request import DeployRequest
from ansible_collections.flinkops.flink.plugins.module_utils._spec import JobSpec
from ansible_collections.flinkops.flink.plugins.module_utils._store import spec_record_names
from ansible_collections.flinkops.flink.plugins.module_utils._versions import (
    VERSIONS_KEPT,
    kept_fingerprints,
    list_versions,
    version_request,
)

NAME = "orders"
SHA = {"a": "a" * 64, "b": "b" * 64}


def spec_of(sha, *args, **more):
    return JobSpec(NAME, "sha256:" + sha[:16], None, list(args), **more)


def upload(sha, stem="orders"):
    name = "%s-sha256-%s.jar" % (stem, sha[:16])
    return {"id": "u%s_%s" % (sha[0], name), "name": name, "uploaded": 1}


def records(specs, log, uploads=()):
    """The entries of a store holding ``specs`` (spec, jar id) and the log ``log`` (oldest
    first: (action, fingerprint, version or None))."""
    names = [n for spec, jar_id in specs for n in spec_record_names(spec, jar_id)]
    for index, (action, fingerprint, version) in enumerate(log):
        entry = {"time": 100 + index, "action": action, "fingerprint": fingerprint, "actor": "me@here"}
        if version is not None:
            entry["version"] = version
        names += operation_names(NAME, entry, now_ms=1_000_000 + index)
    return [{"id": "e%d" % i, "name": n, "uploaded": 1} for i, n in enumerate(names)] + list(uploads)


def versions_of(entries):
    return list_versions(read_operations(entries, NAME), entries, entries)


def test_versions_are_numbered_in_the_order_first_applied_and_keep_their_recorded_number():
    one, two = spec_of(SHA["a"], "--x"), spec_of(SHA["b"], "--x")
    log = [("started", one.fingerprint, None), ("upgraded", two.fingerprint, None),
           ("failed", "c" * 16, None), ("rolled back", one.fingerprint, None),
           ("stopped", "0" * 16, None)]
    entries = records([(one, upload(SHA["a"])["id"]), (two, "gone_orders.jar")], log, [upload(SHA["a"])])
    found = versions_of(entries)
    assert [(v["version"], v["fingerprint"]) for v in found] == [(1, one.fingerprint), (2, two.fingerprint)]
    first = found[0]
    assert (first["first_applied"], first["last_applied"], first["outcome"]) == (100, 103, "rolled back")
    assert first["spec"]["args"] == ["--x"] and first["jar_sha256"] == SHA["a"][:16]
    assert first["jar_upload"] == "orders-sha256-%s.jar" % SHA["a"][:16]
    assert first["jar_on_cluster"] == upload(SHA["a"])["id"] == first["spec"]["jar_on_cluster"]
    assert found[1]["jar_on_cluster"] is None and found[1]["actor"] == "me@here"
    # A failed attempt applies no version: never numbered.
    assert "c" * 16 not in version_numbers(read_operations(entries, NAME))


def test_a_recorded_number_survives_the_log_dropping_its_oldest_entries():
    # Versions 1 and 2 fell out of the log; version 3 was recorded: the next spec is 4, not 2.
    operations = [{"action": "upgraded", "fingerprint": "f" * 16, "version": 3}]
    assert version_numbers(operations) == {"f" * 16: 3}
    assert number_for(operations, "upgraded", "e" * 16) == 4
    assert number_for(operations, "rolled back", "f" * 16) == 3
    assert number_for(operations, "stopped", "0" * 16) is None


def test_the_spec_records_of_the_newest_versions_are_kept():
    log = [{"action": "upgraded", "fingerprint": "%016d" % n} for n in range(VERSIONS_KEPT + 3, 0, -1)]
    assert kept_fingerprints(log) == set("%016d" % n for n in range(4, VERSIONS_KEPT + 4))


def test_a_pruned_version_is_listed_without_a_spec_and_cannot_be_deployed():
    one, two = spec_of(SHA["a"]), spec_of(SHA["b"])
    entries = records([(two, upload(SHA["b"])["id"])],
                      [("started", one.fingerprint, None), ("upgraded", two.fingerprint, None)])
    found = versions_of(entries)
    assert found[0]["spec"] is None and found[0]["jar_on_cluster"] is None
    with pytest.raises(FlinkError, match="version 1 of job orders is in the operation log, but its spec "
                                         "record was pruned"):
        version_request(DeployRequest(NAME), 1, found, set())


def test_an_unknown_number_names_the_versions_there_are():
    one = spec_of(SHA["a"])
    found = versions_of(records([(one, "x")], [("started", one.fingerprint, None)]))
    with pytest.raises(FlinkError, match=r"job orders has no recorded version 7 \(its recorded versions: 1\)"):
        version_request(DeployRequest(NAME), 7, found, set())


def test_a_version_becomes_the_plain_request_of_its_recorded_spec():
    one = JobSpec(NAME, "sha256:" + SHA["a"][:16], "com.example.Orders", ["--in", "x"], 3, {"a.b": "1 s"})
    found = versions_of(records([(one, upload(SHA["a"])["id"])], [("started", one.fingerprint, None)],
                                [upload(SHA["a"])]))
    request = version_request(DeployRequest(NAME, upgrade_mode="blue-green"), 1, found, set())
    assert (request.jar_id, request.jar_path, request.entry_class, request.args, request.parallelism,
            request.configuration) == (upload(SHA["a"])["id"], None, "com.example.Orders", ["--in", "x"], 3,
                                       {"a.b": "1 s"})
    assert request.upgrade_mode == "blue-green"  # how to deploy stays the user's
    again = JobSpec(NAME, "sha256:" + SHA["a"][:16], request.entry_class, request.args, request.parallelism,
                    request.configuration, salt=request.secret_salt)
    assert again.fingerprint == one.fingerprint


@pytest.mark.parametrize("given", [{"entry_class"}, {"args"}, {"parallelism", "jar_id"}])
def test_options_the_record_fixes_are_refused_with_a_version(given):
    one = spec_of(SHA["a"])
    found = versions_of(records([(one, upload(SHA["a"])["id"])], [("started", one.fingerprint, None)]))
    with pytest.raises(FlinkError, match="version cannot be combined with %s" % ", ".join(
            o for o in ("jar_id", "jar_name", "entry_class", "parallelism", "args") if o in given)):
        version_request(DeployRequest(NAME), 1, found, given)


def test_a_lost_jar_is_taken_only_from_a_file_of_the_recorded_content(tmp_path):
    right, wrong = tmp_path / "right.jar", tmp_path / "wrong.jar"
    right.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    wrong.write_bytes(b"PK\x05\x06" + b"\1" * 18)
    sha = hashlib.sha256(right.read_bytes()).hexdigest()
    wrong_sha = hashlib.sha256(wrong.read_bytes()).hexdigest()
    one = spec_of(sha, "--x")
    found = versions_of(records([(one, "lost_jobs-v1-sha256-%s.jar" % sha[:16])],
                                [("started", one.fingerprint, None)]))
    with pytest.raises(FlinkError, match=r"the JAR of version 1 of job orders \(sha256:%s, uploaded as "
                                         r"jobs-v1-sha256-%s.jar\) is not on the JobManager any more"
                                         % (sha[:16], sha[:16])):
        version_request(DeployRequest(NAME), 1, found, set())
    with pytest.raises(FlinkError) as refused:
        version_request(DeployRequest(NAME, jar_path=str(wrong)), 1, found, {"jar"})
    assert wrong_sha in refused.value.msg and "sha256:%s" % sha[:16] in refused.value.msg
    request = version_request(DeployRequest(NAME, jar_path=str(right)), 1, found, {"jar"})
    assert (request.jar_path, request.jar_id, request.jar_name, request.args) == (
        str(right), None, "jobs-v1", ["--x"])


def test_a_version_with_secrets_needs_them_again_and_keeps_its_fingerprint():
    one = spec_of(SHA["a"], "--db-password", "hunter2-hunter2", "--in", "x")
    jar_id = upload(SHA["a"])["id"]
    found = versions_of(records([(one, jar_id)], [("started", one.fingerprint, None)], [upload(SHA["a"])]))
    assert "hunter2-hunter2" not in str(found)
    with pytest.raises(FlinkError, match="deployed with secret values, recorded only as hashes"):
        version_request(DeployRequest(NAME), 1, found, set())
    with pytest.raises(FlinkError, match="deployed with secret values"):
        version_request(DeployRequest(NAME, args=["--db-password", "wrong-wrong-wrong"]), 1, found, {"args"})
    request = version_request(DeployRequest(NAME, args=["--db-password", "hunter2-hunter2"]), 1, found, {"args"})
    assert request.args == ["--db-password", "hunter2-hunter2", "--in", "x"]
    again = JobSpec(NAME, one.jar, None, request.args, secret_args=request.secret_args, salt=request.secret_salt)
    assert again.fingerprint == one.fingerprint
