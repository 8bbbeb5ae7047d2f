# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""Progress lines of a running module, for the operator to see while it waits.

A module cannot print while it runs: Ansible shows its result when it ends. The action plugin
``flinkops.flink.flink_job`` names a file in the module's environment (``PROGRESS_FILE``),
shows each line the module appends there as it polls, and removes the file. Without that
variable nothing is written.
"""

from __future__ import annotations

import os

PROGRESS_FILE = "FLINKOPS_PROGRESS_FILE"


def progress_writer(prefix, redact, environ=None):
    """A ``report(line)`` that appends ``<prefix>: <line>`` (redacted, one line) to the file the
    environment names, or None when it names none."""
    path = (os.environ if environ is None else environ).get(PROGRESS_FILE)
    if not path:
        return None

    def report(line):
        text = redact("%s: %s" % (prefix, line)).replace("\r", " ").replace("\n", " ")
        try:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(text + "\n")
        except OSError:
            pass  # progress is a courtesy to the operator: it never fails a deployment
    return report
