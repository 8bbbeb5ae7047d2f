# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The S3 state store backend against a real S3-compatible server (SeaweedFS, flinkops_devkit.s3server).

The server runs with one identity: requests signed with other keys are refused, which is how
the wrong-credentials tests get their refusal.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from flinkops_devkit.flinkctl import free_port
from flinkops_devkit.s3server import SeaweedFS, use_only_credentials

from ansible_collections.flinkops.flink.plugins.module_utils._records import _s3
from ansible_collections.flinkops.flink.plugins.module_utils._records._backend import (
    ScopedRecords,
    StoreError,
    StoreUnavailable,
)

TIMEOUT = 5
# A wait bounded by its timeout never takes this long, however loaded the machine: the
# tests check that nothing hangs, not how fast (speed is measured in make bench).
HANGS = 120


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory):
    with SeaweedFS(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture
def aws_env(seaweed, monkeypatch, tmp_path):
    """Only the server's credentials in the environment (no profile, no instance metadata)."""
    use_only_credentials(monkeypatch, tmp_path, seaweed.env)
    return seaweed.env


@pytest.fixture
def prefix():
    return "t-" + uuid.uuid4().hex[:10]


@pytest.fixture
def backend(seaweed, aws_env, prefix):
    store = _s3.open_backend(seaweed.url(prefix), TIMEOUT)
    yield store
    store.close()


def names(entries):
    return sorted(entry["name"] for entry in entries)


def test_create_list_delete(backend):
    assert backend.entries("job-a") == []
    assert backend.create("job-a", "flinkops-spec-1.json") == "flinkops-spec-1.json"
    assert backend.create("job-a", "flinkops-claim-x") == "flinkops-claim-x"
    entries = backend.entries("job-a")
    assert names(entries) == ["flinkops-claim-x", "flinkops-spec-1.json"]
    for entry in entries:
        assert set(entry) == {"id", "name", "uploaded"}
        assert entry["id"] == entry["name"]
        assert isinstance(entry["uploaded"], int)
    backend.delete("job-a", ["flinkops-claim-x"])
    assert names(backend.entries("job-a")) == ["flinkops-spec-1.json"]
    # Deleting what is gone (and nothing at all) is not an error.
    backend.delete("job-a", ["flinkops-claim-x", "never-existed"])
    backend.delete("job-a", [])
    assert names(backend.entries("job-a")) == ["flinkops-spec-1.json"]


def test_keys_follow_the_layout(backend, seaweed, prefix):
    backend.create("job-a", "entry-1")
    keys = [item["Key"] for item in seaweed.client().list_objects_v2(
        Bucket=seaweed.bucket, Prefix=prefix + "/").get("Contents", [])]
    assert keys == ["%s/job-a/entry-1" % prefix]


def test_create_is_idempotent(backend):
    assert backend._create("job-a", "entry") == ("entry", True)
    first = backend.entries("job-a")
    # LastModified has whole seconds: wait past one, an overwrite would show.
    time.sleep(1.2)
    assert backend._create("job-a", "entry") == ("entry", False)
    assert backend.create("job-a", "entry") == "entry"
    assert backend.entries("job-a") == first


def test_concurrent_creates_make_one_entry(seaweed, aws_env, prefix):
    one = _s3.open_backend(seaweed.url(prefix), TIMEOUT)
    two = _s3.open_backend(seaweed.url(prefix), TIMEOUT)
    rounds = 15
    barrier = threading.Barrier(2)
    results = {0: [], 1: []}

    def racer(index, store):
        for i in range(rounds):
            barrier.wait()
            results[index].append(store._create("job-race", "claim-%d" % i))

    threads = [threading.Thread(target=racer, args=(i, s)) for i, s in enumerate((one, two))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert len(results[0]) == len(results[1]) == rounds
        for i in range(rounds):
            (id_a, new_a), (id_b, new_b) = results[0][i], results[1][i]
            assert id_a == id_b == "claim-%d" % i
            assert [new_a, new_b].count(True) == 1, (i, new_a, new_b)
        assert names(one.entries("job-race")) == sorted("claim-%d" % i for i in range(rounds))
    finally:
        one.close()
        two.close()


def test_uploaded_is_the_stores_clock(backend):
    backend.create("job-a", "entry")
    (entry,) = backend.entries("job-a")
    # Same machine: the server's clock is ours. S3 keeps whole seconds.
    assert abs(entry["uploaded"] - time.time() * 1000) < 5000
    assert entry["uploaded"] % 1000 == 0


def test_scopes_and_prefixes_are_isolated(backend, seaweed, aws_env, prefix):
    backend.create("job-a", "same")
    backend.create("job-b", "other")
    assert names(backend.entries("job-a")) == ["same"]
    assert names(backend.entries("job-b")) == ["other"]
    # A scope that is a prefix of another scope's name does not see it.
    backend.create("job", "short")
    assert names(backend.entries("job")) == ["short"]
    backend.delete("job-b", ["same"])
    assert names(backend.entries("job-a")) == ["same"]
    elsewhere = _s3.open_backend(seaweed.url(prefix + "-x"), TIMEOUT)
    try:
        assert elsewhere.entries("job-a") == []
    finally:
        elsewhere.close()
    # No prefix at all: keys at the bucket's root scope directories.
    rootless = _s3.open_backend(seaweed.url(""), TIMEOUT)
    try:
        scope = "r-" + uuid.uuid4().hex[:8]
        rootless.create(scope, "at-root")
        assert names(rootless.entries(scope)) == ["at-root"]
        rootless.delete(scope, ["at-root"])
        assert rootless.entries(scope) == []
    finally:
        rootless.close()


def test_scoped_records_interface(backend):
    records = ScopedRecords(backend, "savepoints")
    assert records.write("mark-1") == "mark-1"
    assert records.write("claim", ephemeral=True) == "claim"  # stored like any entry on S3
    assert names(records.jars()) == ["claim", "mark-1"]
    records.delete(["mark-1", "claim"])
    assert records.jars() == []


def test_invalid_scope_and_name_are_refused(backend):
    with pytest.raises(ValueError):
        backend.create("Job_A", "entry")
    with pytest.raises(ValueError):
        backend.create("job-a", "a/b")
    with pytest.raises(ValueError):
        backend.create("job-a", "..")
    assert backend.entries("job-a") == []


def test_listing_and_deleting_paginate(backend):
    """1100 entries: ListObjectsV2 answers 1000 at most, DeleteObjects takes 1000 at most."""
    count = 1100
    wanted = ["e-%04d-%s" % (i, "x" * 200) for i in range(count)]  # long names, like real records
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(lambda n: backend.create("job-many", n), wanted)) == wanted
    entries = backend.entries("job-many")
    assert names(entries) == wanted
    backend.delete("job-many", [entry["id"] for entry in entries])
    assert backend.entries("job-many") == []


def _refusal(backend, operation):
    with pytest.raises(StoreError) as caught:
        operation(backend)
    assert not isinstance(caught.value, StoreUnavailable)
    return caught.value


@pytest.mark.parametrize("which", ["secret", "access_key"])
def test_wrong_credentials_are_refused_without_showing_them(seaweed, aws_env, monkeypatch, prefix, which):
    wrong_secret = "WrongSecret" + uuid.uuid4().hex
    if which == "secret":
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong_secret)
    else:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKUNKNOWN" + uuid.uuid4().hex[:11].upper())
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong_secret)
    store = _s3.open_backend(seaweed.url(prefix), TIMEOUT)
    try:
        for operation in (lambda b: b.entries("job-a"), lambda b: b.create("job-a", "x"),
                          lambda b: b.delete("job-a", ["x"])):
            error = _refusal(store, operation)
            text = str(error)
            assert "refused the credentials" in text
            assert store.describe() in text
            assert wrong_secret not in text and seaweed.secret_key not in text
            assert ("SignatureDoesNotMatch" if which == "secret" else "InvalidAccessKeyId") in text
    finally:
        store.close()
    # Nothing was written with the wrong key.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweed.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweed.secret_key)
    good = _s3.open_backend(seaweed.url(prefix), TIMEOUT)
    try:
        assert good.entries("job-a") == []
    finally:
        good.close()


def test_missing_credentials_are_reported(seaweed, aws_env, monkeypatch, prefix):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    store = _s3.open_backend(seaweed.url(prefix), TIMEOUT)
    try:
        error = _refusal(store, lambda b: b.entries("job-a"))
        assert "no usable AWS credentials" in str(error)
        assert "listing scope job-a" in str(error)
    finally:
        store.close()


def test_missing_bucket_is_named(seaweed, aws_env):
    url = seaweed.url("p").replace("s3://%s/" % seaweed.bucket, "s3://no-such-bucket-here/")
    store = _s3.open_backend(url, TIMEOUT)
    try:
        for operation in (lambda b: b.entries("job-a"), lambda b: b.create("job-a", "x")):
            error = _refusal(store, operation)
            assert "bucket no-such-bucket-here does not exist" in str(error)
    finally:
        store.close()
    # The store did not create it on the way (it exists only if someone makes it).
    assert "no-such-bucket-here" not in [b["Name"] for b in seaweed.client().list_buckets()["Buckets"]]


def test_stopped_server_is_unavailable_quickly(tmp_path, aws_env, monkeypatch):
    """Stopped: every operation fails StoreUnavailable. Started again (the devkit's stop in
    place, as the fault suite does): same endpoint, every entry kept, the same backend works."""
    server = SeaweedFS(tmp_path / "short-lived")
    try:
        server.start()
        endpoint = server.endpoint
        for key, value in server.env.items():
            monkeypatch.setenv(key, value)
        store = _s3.open_backend(server.url("p"), 2)
        store.create("job-a", "before")
        assert names(store.entries("job-a")) == ["before"]
        server.stop()
        assert not server.running
        try:
            for operation in (lambda b: b.entries("job-a"), lambda b: b.create("job-a", "after"),
                              lambda b: b.delete("job-a", ["before"])):
                started = time.monotonic()
                with pytest.raises(StoreUnavailable) as caught:
                    operation(store)
                assert time.monotonic() - started < HANGS
                assert "could not be reached" in str(caught.value)
                assert store.describe() in str(caught.value)
                assert server.secret_key not in str(caught.value)
            server.start()
            assert server.running and server.endpoint == endpoint
            assert names(store.entries("job-a")) == ["before"]
            store.create("job-a", "after")
            assert names(store.entries("job-a")) == ["after", "before"]
        finally:
            store.close()
    finally:
        server.stop()


def test_silent_server_times_out(aws_env):
    """A server that accepts connections and never answers: StoreUnavailable after the timeout."""
    port = free_port()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen(16)
        store = _s3.open_backend("s3://bucket/p?endpoint=http://127.0.0.1:%d&region=us-east-1&addressing=path"
                                 % port, 1)
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as caught:
            store.entries("job-a")
        elapsed = time.monotonic() - started
        store.close()
    assert 1 <= elapsed < HANGS, elapsed  # it waited (3 attempts of 1 s with short backoff), bounded
    assert "answered too late" in str(caught.value)


@pytest.mark.parametrize("url, expected", [
    ("s3:///prefix?endpoint=http://127.0.0.1:9", "the bucket is missing"),
    ("s3://?endpoint=http://127.0.0.1:9", "the bucket is missing"),
    ("s3://bucket/p?endpoint=http://127.0.0.1:9&colour=blue", "unknown query parameter 'colour'"),
    ("s3://bucket/p?region=us-east-1&region=eu-west-1", "given twice"),
    ("s3://bucket/p?addressing=sideways", "addressing must be path or virtual"),
    ("s3://bucket/p?endpoint=ftp://127.0.0.1:9", "must be an http:// or https:// URL"),
    ("s3://bucket/p?endpoint=http://127.0.0.1:99999", "not a valid URL"),
    ("s3://bucket/p q", "the prefix"),
    ("s3://bu*cket/p", "not a valid bucket name"),
    ("https://bucket/p", "not an s3:// URL"),
])
def test_malformed_urls_are_refused(url, expected):
    with pytest.raises(StoreError) as caught:
        _s3.open_backend(url, TIMEOUT)
    assert expected in str(caught.value)
    assert str(caught.value).startswith("state_store ")


@pytest.mark.parametrize("url", [
    "s3://bucket/p?endpoint=http://127.0.0.1:9&aws_secret_access_key=TopSecretValue123",
    "s3://bucket/p?secret_key=TopSecretValue123",
    "s3://b/p?secret=TopSecretValue123",
    "s3:///?password=TopSecretValue123",
    "s3://bucket/p?access_key=AKIDTOPSECRET&token=TopSecretValue123",
    "s3://bucket/p?X-Amz-Signature=TopSecretValue123",
    "s3://AKIDTOPSECRET:TopSecretValue123@bucket/p",
    "s3://AKIDTOPSECRET:Top/SecretValue123@bucket/p",
    "s3://bucket/p?endpoint=http://user:TopSecretValue123@127.0.0.1:9",
])
def test_credentials_in_the_url_are_refused_unseen(url):
    with pytest.raises(StoreError) as caught:
        _s3.open_backend(url, TIMEOUT)
    text = str(caught.value)
    assert "credential" in text
    assert "TopSecretValue123" not in text and "SecretValue123" not in text
    assert "AKIDTOPSECRET" not in text


def test_describe_is_the_url_without_credentials(seaweed, aws_env, prefix):
    store = _s3.open_backend(seaweed.url(prefix), TIMEOUT)
    try:
        assert store.describe() == seaweed.url(prefix)
        assert seaweed.secret_key not in store.describe()
        assert seaweed.access_key not in store.describe()
    finally:
        store.close()
    assert _s3.open_backend("s3://bucket", TIMEOUT).describe() == "s3://bucket"


def test_without_boto3_the_message_says_what_to_install(monkeypatch):
    monkeypatch.setattr(_s3, "HAS_BOTO3", False)
    with pytest.raises(StoreError) as caught:
        _s3.open_backend("s3://bucket/p?endpoint=http://127.0.0.1:9", TIMEOUT)
    assert str(caught.value) == ("state_store s3://bucket/p?endpoint=http://127.0.0.1:9 needs the Python "
                                 "library boto3 on the host that runs the module")


def test_close_is_idempotent_and_reopens(backend):
    backend.create("job-a", "entry")
    backend.close()
    backend.close()
    assert names(backend.entries("job-a")) == ["entry"]
