# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""What every flinkops.flink module shares: connection options, errors, check mode, diff."""

from __future__ import annotations

import os

from ansible.module_utils.basic import AnsibleFallbackNotFound, AnsibleModule, missing_required_lib

from ansible_collections.flinkops.flink.plugins.module_utils._client import (
    REQUESTS_IMPORT_ERROR,
    FlinkClient,
    FlinkError,
)
from ansible_collections.flinkops.flink.plugins.module_utils._records._state import open_state_store
from ansible_collections.flinkops.flink.plugins.module_utils._request import Changes, real
from ansible_collections.flinkops.flink.plugins.module_utils._secrets import (
    collect,
    mask_specs,
    problems,
    safe_no_log_values,
    shown_invocation,
)


def env_fallback(*names):
    """Like Ansible's env_fallback, but an empty variable counts as unset.

    AWX sets every variable a credential type declares, empty ones too (a token
    credential also sets FLINK_USERNAME=""), which must not count as a user name.
    """
    for name in names:
        if os.environ.get(name):
            return os.environ[name]
    raise AnsibleFallbackNotFound


def connection_argument_spec():
    """The connection options; documented once in the ``_connection`` doc fragment."""
    return dict(
        url=dict(type="str", required=True, fallback=(env_fallback, ["FLINK_URL"])),
        url_username=dict(type="str", aliases=["username"],
                          fallback=(env_fallback, ["FLINK_USERNAME"])),
        url_password=dict(type="str", no_log=True, aliases=["password"],
                          fallback=(env_fallback, ["FLINK_PASSWORD"])),
        bearer_token=dict(type="str", no_log=True, fallback=(env_fallback, ["FLINK_TOKEN"])),
        headers=dict(type="dict", no_log=True),
        validate_certs=dict(type="bool", default=True,
                            fallback=(env_fallback, ["FLINK_VALIDATE_CERTS"])),
        ca_path=dict(type="path", fallback=(env_fallback, ["FLINK_CA_PATH"])),
        client_cert=dict(type="path", fallback=(env_fallback, ["FLINK_CLIENT_CERT"])),
        client_key=dict(type="path", no_log=False, fallback=(env_fallback, ["FLINK_CLIENT_KEY"])),
        request_timeout=dict(type="float", default=30),
        request_retries=dict(type="int", default=3),
        state_store=dict(type="str", fallback=(env_fallback, ["FLINK_STATE_STORE"])),
    )


CONNECTION_MUTUALLY_EXCLUSIVE = [("bearer_token", "url_username")]
CONNECTION_REQUIRED_BY = {"client_key": "client_cert", "url_password": "url_username"}


class SafeAnsibleModule(AnsibleModule):
    """AnsibleModule whose every result, its own validation failures included, goes
    through the collection's redaction and shows a masked invocation."""

    redactor = None

    def _secure(self, result):
        if self.redactor is None:
            self.redactor = collect(self.params, self.argument_spec)
        self.no_log_values = safe_no_log_values(self.no_log_values) | self.redactor.values
        secret_args = self.params.get("secret_args") if isinstance(self.params.get("secret_args"), list) else ()
        result = self.redactor.data(mask_specs(result, secret_args or ()))
        result["invocation"] = {"module_args": shown_invocation(self.params, self.argument_spec,
                                                                self.redactor)}
        return result

    def exit_json(self, **kwargs):
        super().exit_json(**self._secure(kwargs))

    def fail_json(self, msg, **kwargs):
        kwargs["msg"] = msg
        super().fail_json(**self._secure(kwargs))


class FlinkModule:
    """An AnsibleModule with a connected FlinkClient and a record of changes.

    Changes go through ``change()``: in check mode they are only recorded, so
    check mode cannot send a request that changes the cluster.
    """

    def __init__(self, argument_spec, mutually_exclusive=None, required_by=None, **kwargs):
        spec = connection_argument_spec()
        spec.update(argument_spec)
        required_by_all = dict(CONNECTION_REQUIRED_BY)
        required_by_all.update(required_by or {})
        self.ansible = SafeAnsibleModule(
            argument_spec=spec,
            supports_check_mode=True,
            mutually_exclusive=CONNECTION_MUTUALLY_EXCLUSIVE + list(mutually_exclusive or []),
            required_by=required_by_all,
            **kwargs
        )
        self.params = self.ansible.params
        # Every secret among the options (passwords, tokens, header values, credentials
        # inside URLs, secret job arguments) is hidden in all the module returns.
        self.redactor = self.ansible.redactor = collect(self.params, self.ansible.argument_spec)
        self._warn = self.ansible.warn
        self.ansible.warn = self.warn
        self.changes = Changes(self.ansible.check_mode)
        if REQUESTS_IMPORT_ERROR:
            self.ansible.fail_json(msg=missing_required_lib("requests"),
                                   exception=REQUESTS_IMPORT_ERROR)
        self._check_option_ranges()
        if not self.params["validate_certs"]:
            self.warn("validate_certs is false: the Flink REST endpoint's TLS "
                      "certificate is not verified")
        try:
            self.client = self.new_client()
        except FlinkError as exc:
            self.fail(exc)

    def new_client(self):
        """A client of the connection options (each thread that talks to Flink has its own)."""
        return FlinkClient(
            self.params["url"],
            url_username=self.params["url_username"],
            url_password=self.params["url_password"],
            bearer_token=self.params["bearer_token"],
            headers=self.params["headers"],
            validate_certs=self.params["validate_certs"],
            ca_path=self.params["ca_path"],
            client_cert=self.params["client_cert"],
            client_key=self.params["client_key"],
            timeout=self.params["request_timeout"],
            retries=self.params["request_retries"],
            redactor=self.redactor,
        )

    def connection(self):
        """Another client and state store of the same options, for a thread of its own (the
        caller closes the state store)."""
        client = self.new_client()
        return client, open_state_store(self.params.get("state_store"), client,
                                        self.params["request_timeout"])

    def _check_option_ranges(self):
        found = problems(self.params)
        if not 0 <= self.params["request_retries"] <= 10:
            found.append("request_retries must be between 0 and 10, got %s" % self.params["request_retries"])
        if found:
            self.fail("; ".join(found))

    def warn(self, msg):
        self._warn(self.redactor.text(msg))

    _state = None

    @property
    def state(self):
        """The records' storage the option ``state_store`` names (opened on first use)."""
        if self._state is None:
            self._state = open_state_store(self.params.get("state_store"), self.client,
                                           self.params["request_timeout"])
        return self._state

    def close(self):
        """Release the state store's connections (and with them its ephemeral claims)."""
        if self._state is not None:
            state, self._state = self._state, None
            state.close()

    @property
    def check_mode(self):
        return self.ansible.check_mode

    # What the module changed (or would change in check mode) is kept by Changes.
    @property
    def actions(self):
        return self.changes.actions

    @actions.setter
    def actions(self, value):
        self.changes.actions = value

    @property
    def changed(self):
        return self.changes.changed

    @changed.setter
    def changed(self, value):
        self.changes.changed = value

    def change(self, description, operation=None, *args, **kwargs):
        """Record a change and, outside check mode, carry it out (None in check mode)."""
        return real(self.changes.do(description, operation, *args, **kwargs))

    def fail(self, error, **result):
        self.close()
        if isinstance(error, FlinkError):
            result.setdefault("error", error.to_dict())
            msg = str(error)
        else:
            msg = error
        result.setdefault("actions", self.actions)
        result.setdefault("changed", self.changed and not self.check_mode)
        self.ansible.fail_json(msg=msg, **result)

    def exit(self, diff=None, **result):
        self.close()
        result["changed"] = self.changed
        result["actions"] = self.actions
        # A diff is only computed for the user when asked for with --diff.
        if diff is not None and self.ansible._diff:
            result["diff"] = diff
        self.ansible.exit_json(**result)

    def run(self, operation):
        """Run the module's operation; any FlinkError becomes a clean failure, and so
        does an answer of a shape the module did not expect (never a traceback)."""
        try:
            operation(self)
        except FlinkError as exc:
            self.fail(exc)
        except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
            last = getattr(getattr(self, "client", None), "last", None)
            where = "no answer received yet"
            if last:
                where = "the last answer: {0} {1}, HTTP {2}".format(*last)
            self.fail("unexpected answer from Flink (%s: %s; %s)" % (type(exc).__name__, exc, where))
