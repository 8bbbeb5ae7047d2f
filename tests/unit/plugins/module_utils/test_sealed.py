# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Secret job arguments and configuration values: hashed in records, masked when shown."""

from __future__ import annotations

import json

import pytest

from ansible_collections.flinkops.flink.plugins.module_utils._sealed import (
    MASK,
    SALT_FIELD,
    SecretMismatch,
    is_sensitive_key,
    masked,
    salt_of,
    seal,
    seal_value,
    secret_arg_spans,
    unseal,
)

SPEC = dict(name="orders", jar="abc", entry_class="Main",
            args=["--topic", "orders", "--db-password", "pw-one-111", "--api-token=tok-222", "--x", "opaque-333"],
            configuration={"s3.secret-key": "s3-444", "parallelism.default": "2",
                           "security.kerberos.login.jaas.config": "jaas-555"},
            parallelism=2)
SECRETS = ("pw-one-111", "tok-222", "opaque-333", "s3-444", "jaas-555")


@pytest.mark.parametrize("key, sensitive", [
    ("s3.secret-key", True), ("fs.azure.account.key.acc.blob.core.windows.net", True),
    ("metrics.reporter.dghttp.apikey", True), ("X-API-KEY", True), ("env.PASSWORD", True),
    ("pulsar.client.authParams", False), ("pulsar.client.auth-params", True),
    ("parallelism.default", False), ("taskmanager.numberOfTaskSlots", False),
])
def test_sensitive_keys_follow_flink(key, sensitive):
    assert is_sensitive_key(key) is sensitive


def test_secret_arguments_by_flag_name_user_flag_and_position():
    args = ["--password", "a", "--token=b", "--user", "c", "--opaque", "d", "e"]
    expected = {1: ("", "a"), 2: ("--token=", "b"), 6: ("", "d"), 7: ("", "e")}
    assert secret_arg_spans(args, ["--opaque", 7]) == expected
    assert secret_arg_spans(args) == {1: ("", "a"), 2: ("--token=", "b")}


def test_sealed_record_holds_no_secret_and_is_stable_with_its_salt():
    sealed = seal(SPEC, ["--x"])
    text = json.dumps(sealed)
    for value in SECRETS:
        assert value not in text
    assert sealed["args"][:2] == ["--topic", "orders"] and sealed["configuration"]["parallelism.default"] == "2"
    assert sealed["args"][4].startswith("--api-token=pbkdf2$")
    # Same values and salt: the same sealed spec (so the same fingerprint): a no-op.
    assert seal(SPEC, ["--x"], salt=salt_of(sealed)) == sealed
    # A changed secret seals differently with the same salt: an upgrade.
    changed = dict(SPEC, configuration=dict(SPEC["configuration"], **{"s3.secret-key": "s3-new"}))
    assert seal(changed, ["--x"], salt=salt_of(sealed)) != sealed
    # A fresh salt: the same secret hashes differently in another record.
    assert seal(SPEC, ["--x"])["configuration"]["s3.secret-key"] != sealed["configuration"]["s3.secret-key"]


def test_spec_without_secrets_is_unchanged():
    plain = dict(name="n", args=["--topic", "t"], configuration={"a": "b"})
    assert seal(plain) == plain and SALT_FIELD not in seal(plain)


def test_masked_view_of_clear_and_sealed_specs():
    for spec in (SPEC, seal(SPEC, ["--x"])):
        shown = masked(spec, ["--x"])
        assert shown["args"] == ["--topic", "orders", "--db-password", MASK, "--api-token=" + MASK, "--x", MASK]
        assert shown["configuration"]["s3.secret-key"] == MASK and shown["configuration"]["parallelism.default"] == "2"
        assert SALT_FIELD not in shown
        assert not any(value in json.dumps(shown) for value in SECRETS)


def test_unseal_rebuilds_a_recorded_spec_from_the_values_given_now():
    record = seal(dict(SPEC, args=SPEC["args"][:-2]), ["--x"])
    # Now the args differ (a new flag in front): the secrets are found anyway.
    now = dict(SPEC, args=["--new"] + SPEC["args"])
    rebuilt = unseal(record, now, ["--x"])
    assert rebuilt["args"] == SPEC["args"][:-2]
    assert rebuilt["configuration"] == SPEC["configuration"]
    assert SALT_FIELD not in rebuilt


def test_unseal_refuses_when_a_secret_changed_and_says_where():
    record = seal(SPEC, ["--x"])
    now = dict(SPEC, configuration=dict(SPEC["configuration"], **{"s3.secret-key": "rotated"}))
    with pytest.raises(SecretMismatch) as info:
        unseal(record, now, ["--x"])
    assert "configuration key s3.secret-key" in str(info.value)
    assert "s3-444" not in str(info.value) and "rotated" not in str(info.value)


def test_job_spec_records_and_fingerprints_hold_no_secret():
    from ansible_collections.flinkops.flink.plugins.module_utils._spec import JobSpec
    spec = JobSpec("orders", "sha256:abc", "Main", SPEC["args"], 2, SPEC["configuration"], secret_args=["--x"])
    record = spec.to_dict()
    assert not any(value in json.dumps(record) for value in SECRETS)
    # The same spec sealed with the record's salt: the same fingerprint (a no-op).
    again = JobSpec("orders", "sha256:abc", "Main", SPEC["args"], 2, SPEC["configuration"], secret_args=["--x"],
                    salt=record[SALT_FIELD])
    assert again.fingerprint == spec.fingerprint
    # A rotated secret: another fingerprint (an upgrade).
    rotated = JobSpec("orders", "sha256:abc", "Main", SPEC["args"], 2,
                      dict(SPEC["configuration"], **{"s3.secret-key": "new"}), secret_args=["--x"],
                      salt=record[SALT_FIELD])
    assert rotated.fingerprint != spec.fingerprint
    # A rollback rebuilds the clear spec from the record and this run's values.
    old = JobSpec.from_record(dict(record, jar_id="j"), given=spec)
    assert old.args == SPEC["args"] and old.configuration == SPEC["configuration"]
    assert old.fingerprint == spec.fingerprint
    with pytest.raises(SecretMismatch):
        JobSpec.from_record(dict(record, jar_id="j"), given=rotated)


def test_production_sealing_is_slow_on_purpose(production_seal_iterations):
    assert production_seal_iterations >= 100000
    assert seal_value("x", "00" * 16, production_seal_iterations).startswith(
        "pbkdf2$%d$" % production_seal_iterations)
