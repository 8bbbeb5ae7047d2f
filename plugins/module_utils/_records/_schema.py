# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module_utils is PRIVATE and for internal use by flinkops.flink only.
# It can change or be removed at any time without notice.

"""The shape each record kind's payload must have before any code reads it.

Records are written by this collection, but anyone who can reach the store (for the
default store: anyone who can upload a JAR) can write one that decodes yet holds a
field of the wrong type. Such a record is skipped by its reader and named in a
warning; it never crashes a run.
"""

from __future__ import annotations

TEXT = (str,)
NUMBER = (int, float)
OPTIONAL_TEXT = (str, type(None))

# field -> accepted types; a field missing from the payload counts as None.
INTENT = {"n": TEXT, "f": TEXT, "p": TEXT, "a": OPTIONAL_TEXT, "t": NUMBER, "x": NUMBER,
          "r": TEXT, "w": NUMBER + (type(None),), "h": NUMBER + (type(None),),
          "l": NUMBER + (type(None),)}
HEAD = {"j": TEXT, "p": OPTIONAL_TEXT, "r": TEXT, "a": OPTIONAL_TEXT, "t": NUMBER}
OPERATION = {"name": TEXT, "action": TEXT, "time": NUMBER + (type(None),), "job_id": OPTIONAL_TEXT,
             "previous_job_id": OPTIONAL_TEXT, "failed_job_id": OPTIONAL_TEXT,
             "savepoint": OPTIONAL_TEXT, "fingerprint": OPTIONAL_TEXT, "actor": OPTIONAL_TEXT,
             "message": OPTIONAL_TEXT, "version": (int, type(None))}
SPEC = {"name": TEXT, "jar": TEXT, "entry_class": OPTIONAL_TEXT, "args": (list, type(None)),
        "parallelism": (int, type(None)), "configuration": (dict, type(None)),
        "jar_id": OPTIONAL_TEXT}


def conforms(payload, schema):
    """Whether ``payload`` is a dict whose fields have the types ``schema`` names (bool is
    not a number here), and whose list fields hold text only."""
    if not isinstance(payload, dict):
        return False
    for field, types in schema.items():
        value = payload.get(field)
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            return False
        if isinstance(value, list) and not all(isinstance(item, str) for item in value):
            return False
    return True
