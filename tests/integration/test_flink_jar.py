# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""flink_jar against a real cluster: content-addressed uploads, downloads, pruning, bad files."""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import threading

import pytest


def uploads(flink, stem):
    return [jar for jar in flink.get("/jars")["files"] if jar["name"].startswith(stem + "-sha256-")]


def unique_copy(source, target, salt):
    """A copy of a JAR with content no other test uploaded: the cluster is shared by the
    whole session, and an upload of the same content under any name is reused."""
    shutil.copy(source, target)
    with open(target, "ab") as handle:  # trailing bytes: same ZIP, different content hash
        handle.write(salt.encode("utf-8"))
    return str(target)


def test_upload_is_idempotent_by_content(flink, module, unique_job_name, tmp_path):
    jar = unique_copy(flink.jobs["stateful-v1"], tmp_path / "job.jar", unique_job_name)
    sha = hashlib.sha256(open(jar, "rb").read()).hexdigest()
    planned = module("flink_jar", dict(url=flink.url, src=jar, name=unique_job_name), check=True)
    assert planned["changed"] and planned["jar_id"] is None and planned["sha256"] == sha
    assert uploads(flink, unique_job_name) == []

    first = module("flink_jar", dict(url=flink.url, src=jar, name=unique_job_name))
    assert first["changed"] and first["sha256"] == sha
    assert first["name"] == "%s-sha256-%s.jar" % (unique_job_name, sha[:16])
    listed = uploads(flink, unique_job_name)
    assert [j["id"] for j in listed] == [first["jar_id"]]

    again = module("flink_jar", dict(url=flink.url, src=jar, name=unique_job_name))
    assert not again["changed"] and again["jar_id"] == first["jar_id"]
    assert len(uploads(flink, unique_job_name)) == 1


def test_keep_prunes_old_uploads_of_a_name(flink, module, unique_job_name, tmp_path):
    ids = []
    for n in range(3):
        copy = tmp_path / ("job%d.jar" % n)
        shutil.copy(flink.jobs["stateful-v1"], copy)
        with open(copy, "ab") as handle:  # trailing bytes: same ZIP, different content hash
            handle.write(b"\0" * (n + 1))
        ids.append(module("flink_jar", dict(url=flink.url, src=str(copy),
                                            name=unique_job_name))["jar_id"])
    planned = module("flink_jar", dict(url=flink.url, name=unique_job_name, state="absent",
                                       keep=1), check=True)
    assert planned["changed"] and sorted(planned["removed"]) == sorted(ids[:2])
    assert len(uploads(flink, unique_job_name)) == 3
    pruned = module("flink_jar", dict(url=flink.url, name=unique_job_name, state="absent", keep=1))
    assert sorted(pruned["removed"]) == sorted(ids[:2])
    assert [j["id"] for j in uploads(flink, unique_job_name)] == [ids[2]]
    again = module("flink_jar", dict(url=flink.url, name=unique_job_name, state="absent", keep=1))
    assert not again["changed"]
    gone = module("flink_jar", dict(url=flink.url, jar_id=ids[2], state="absent"))
    assert gone["changed"] and uploads(flink, unique_job_name) == []


@pytest.fixture
def jar_server(tmp_path, flink, unique_job_name):
    unique_copy(flink.jobs["stateful-v2"], tmp_path / "job.jar", unique_job_name)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d/job.jar" % server.server_address[1]
    server.shutdown()
    server.server_close()


def test_src_url_with_checksum(flink, module, unique_job_name, jar_server, tmp_path):
    sha = hashlib.sha256(open(tmp_path / "job.jar", "rb").read()).hexdigest()
    wrong = module("flink_jar", dict(url=flink.url, src_url=jar_server, name=unique_job_name,
                                     src_checksum="sha256:" + "0" * 64))
    assert wrong["failed"] and "checksum mismatch" in wrong["msg"]
    assert uploads(flink, unique_job_name) == []
    first = module("flink_jar", dict(url=flink.url, src_url=jar_server, name=unique_job_name,
                                     src_checksum="sha256:" + sha))
    assert first["changed"] and first["sha256"] == sha
    again = module("flink_jar", dict(url=flink.url, src_url=jar_server, name=unique_job_name,
                                     src_checksum="sha256:" + sha))
    assert not again["changed"] and again["jar_id"] == first["jar_id"]
    missing = module("flink_jar", dict(url=flink.url, src_url=jar_server + ".nope",
                                       name=unique_job_name, src_checksum="sha256:" + "1" * 64))
    assert missing["failed"] and "HTTP 404" in missing["msg"] and jar_server in missing["msg"]


def test_not_a_jar_is_refused_before_upload(flink, module, unique_job_name, tmp_path):
    text = tmp_path / "readme.jar"
    text.write_text("not a zip")
    before = flink.jar_names()
    result = module("flink_jar", dict(url=flink.url, src=str(text), name=unique_job_name))
    assert result["failed"] and "is not a JAR file" in result["msg"]
    missing = module("flink_jar", dict(url=flink.url, src=str(tmp_path / "nope.jar")))
    assert missing["failed"] and "does not exist" in missing["msg"]
    assert flink.jar_names() == before
