# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os
import re

import pytest

from ansible_collections.flinkops.flink.plugins.module_utils._client import FlinkError
from ansible_collections.flinkops.flink.plugins.module_utils._spec import (
    JobSpec,
    normalize_configuration,
)
from ansible_collections.flinkops.flink.plugins.module_utils._store import (
    fingerprint_of,
    is_spec_record,
    jar_sha_prefix,
    jar_stem,
    new_job_id,
    read_spec_records,
    runs_spec,
    spec_record_names,
    stale_spec_records,
)

UPLOAD_NAME_MAX = 218  # 255 bytes of a file name minus Flink's "<uuid>_" prefix


def spec(**changes):
    fields = dict(name="orders", jar="sha256:" + "a" * 16, entry_class="org.example.Job",
                  args=["--topic", "orders"], parallelism=2, configuration={"k": "v"})
    fields.update(changes)
    return JobSpec(**fields)


def test_fingerprint_changes_with_every_field_and_only_with_them():
    base = spec().fingerprint
    assert spec().fingerprint == base
    for change in (dict(name="orders-2"), dict(jar="sha256:" + "b" * 16), dict(entry_class="org.example.Other"),
                   dict(args=["--topic", "orders", "--x"]), dict(args=["--topic orders"]),
                   dict(parallelism=3), dict(configuration={"k": "w"})):
        assert spec(**change).fingerprint != base, change
    # configuration values are compared as Flink sees them: strings
    assert spec(configuration={"k": 1}).fingerprint == spec(configuration={"k": "1"}).fingerprint


def test_job_ids_carry_the_fingerprint_and_never_repeat():
    job_spec = spec()
    ids = set(new_job_id(job_spec) for _attempt in range(50))
    assert len(ids) == 50
    for job_id in ids:
        assert re.match(r"^[0-9a-f]{32}$", job_id)
        assert runs_spec(job_id, job_spec) and fingerprint_of(job_id) == job_spec.fingerprint
    assert not runs_spec(ids.pop(), spec(parallelism=9))
    assert fingerprint_of("not-a-job-id") is None


def test_spec_records_round_trip_long_and_unicode_arguments():
    job_spec = spec(args=["--name", "x y \"q\" 'ü' €"] * 40, configuration={"a.b": "1" * 300})
    names = spec_record_names(job_spec, "uuid_job-sha256-aaaaaaaaaaaaaaaa.jar")
    assert len(names) > 1
    assert all(len(name) <= UPLOAD_NAME_MAX and is_spec_record(name) for name in names)
    records = read_spec_records(reversed(names))  # order on the cluster does not matter
    record = records[job_spec.fingerprint]
    assert record["args"] == job_spec.args and record["configuration"] == job_spec.configuration
    assert record["jar_id"] == "uuid_job-sha256-aaaaaaaaaaaaaaaa.jar"


def test_incomplete_records_are_ignored():
    names = spec_record_names(spec(args=[os.urandom(400).hex()]), "jar")  # incompressible
    assert len(names) > 2
    assert read_spec_records(names[:-1]) == {}
    assert read_spec_records(["orders-sha256-0123456789abcdef.jar"]) == {}


def test_jar_names():
    assert jar_stem("/tmp/Orders Job 1.4.jar") == "Orders_Job_1.4"
    assert jar_sha_prefix("orders-sha256-0123456789abcdef.jar") == "0123456789abcdef"
    assert jar_sha_prefix("orders.jar") is None


def test_stale_spec_records_are_this_jobs_unlisted_ones():
    kept, old, other = spec(), spec(args=["--old"]), spec(name="payments")
    jars = [{"id": "id-%s" % n, "name": n} for s_ in (kept, old, other)
            for n in spec_record_names(s_, "jar")]
    jars.append({"id": "real", "name": "orders-sha256-0123456789abcdef.jar"})
    stale = stale_spec_records(jars, "orders", set([kept.fingerprint]))
    assert stale and all(old.fingerprint in jar_id for jar_id in stale)
    assert stale_spec_records(jars, "orders", set([kept.fingerprint, old.fingerprint])) == []


# --- equivalent specs are one spec (issue 14.4) and the configuration rule (issue 14.6) ------

def test_empty_entry_class_is_no_entry_class():
    """Both mean the manifest's Main-Class: a re-run must not restart the job."""
    assert spec(entry_class="").fingerprint == spec(entry_class=None).fingerprint
    assert spec(entry_class="").entry_class is None


@pytest.mark.parametrize("given, flat", [
    ({"k": True}, {"k": "true"}),
    ({"k": False}, {"k": "false"}),
    ({"k": 3}, {"k": "3"}),
    ({"k": 0.5}, {"k": "0.5"}),
    ({"k": "as is"}, {"k": "as is"}),
    ({"k": ["a", "b", 3, True]}, {"k": "a;b;3;true"}),
    ({"k": ["a;b", "c"]}, {"k": "'a;b';c"}),
    ({"k": ["it's;", "x"]}, {"k": "'it''s;';x"}),
    ({"k": []}, {"k": ""}),
    ({"execution": {"checkpointing": {"interval": "10s", "unaligned": True}}},
     {"execution.checkpointing.interval": "10s", "execution.checkpointing.unaligned": "true"}),
    ({"a": {"b": 1}, "a.c": 2}, {"a.b": "1", "a.c": "2"}),
])
def test_configuration_takes_flinks_flat_string_form(given, flat):
    assert normalize_configuration(given) == flat


def test_equivalent_configurations_have_one_fingerprint():
    assert spec(configuration={"k": True}).fingerprint == \
        spec(configuration={"k": "true"}).fingerprint
    assert spec(configuration={"a": {"b": 1}}).fingerprint == \
        spec(configuration={"a.b": "1"}).fingerprint


@pytest.mark.parametrize("one, other", [
    ("true", "TRUE"), ("False", "false"), (True, " true "),
    ("1s", "1000 ms"), ("1 min", "60s"), ("2h", "120min"), ("1d", "24 hours"), ("10 S", "10s"),
    ("1g", "1024mb"), ("1 GB", "1073741824 bytes"), ("64 kb", "65536b"), ("1m", "1 M"),
])
def test_equivalent_configuration_values_are_one_spec(one, other):
    """Issue 30: equivalent spellings of a value in Flink's normal forms do not restart the job;
    Flink is still sent the value as given."""
    key = "execution.checkpointing.interval"
    assert spec(configuration={key: one}).fingerprint == spec(configuration={key: other}).fingerprint
    assert spec(configuration={key: other}).configuration == normalize_configuration({key: other})


@pytest.mark.parametrize("one, other", [
    ("1m", "60s"),          # "m" is minutes to a duration, mebibytes to a memory size
    ("1m", "1024kb"),
    ("1s", "1"),            # a bare number is whatever the key's type says
    ("true", "yes"),
    ("1s", "2s"), ("1g", "1gbit"), ("a b", "a  b"),
])
def test_different_or_ambiguous_values_stay_different(one, other):
    key = "k"
    assert spec(configuration={key: one}).fingerprint != spec(configuration={key: other}).fingerprint


def test_a_secret_configuration_value_is_compared_sealed():
    key = "db.password"  # sealed for its name, like Flink hides it
    sealed = spec(configuration={key: "TRUE"})
    assert sealed.fingerprint != spec(configuration={key: "true"}, salt=sealed.salt).fingerprint
    assert sealed.fingerprint == spec(configuration={key: "TRUE"}, salt=sealed.salt).fingerprint
    assert sealed.to_dict()["configuration"][key] != "TRUE"


@pytest.mark.parametrize("given, named", [
    ({"state.backend.type": None}, "configuration key state.backend.type has no value (null)"),
    ({"a": {"b": None}}, "configuration key a.b has no value"),
    ({"k": [["x"]]}, "configuration key k: a list holds only plain values"),
    ({"k": [None]}, "configuration key k has no value"),
    ({"a": {"b": 1}, "a.b": 2}, "configuration key a.b is given twice"),
])
def test_configuration_values_flink_cannot_take_are_refused_naming_the_key(given, named):
    with pytest.raises(FlinkError) as refused:
        normalize_configuration(given)
    assert named in str(refused.value)
