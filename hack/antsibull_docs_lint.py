#!/usr/bin/env python
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""``antsibull-docs`` with temporary directory names that never end in "_".

``lint-collection-docs`` copies the collection to ``tempfile.mkdtemp(prefix="antsibull-docs-")``
and the reStructuredText it checks carries that path. A random name ending in "_" reads as a
docutils reference there ("Unknown target name: antsibull-docs-xxxxxxx" on every module page),
which failed ``make docs`` once in CI: one name in 37 ends that way.
"""

from __future__ import annotations

import sys
import tempfile

tempfile._RandomNameSequence.characters = "abcdefghijklmnopqrstuvwxyz0123456789"  # pylint: disable=protected-access

from antsibull_docs.cli.antsibull_docs import main  # noqa: E402  pylint: disable=wrong-import-position

if __name__ == "__main__":
    sys.exit(main())
