#!/usr/bin/env python
# Copyright: (c) 2025, flinkops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Print the closing summary of ``make test``.

Usage: summarize.py REPORT_DIR STAGE=STATUS [STAGE=STATUS ...]

STATUS is ``ok`` or ``FAILED``. For a stage with ``REPORT_DIR/<stage>.xml``
(JUnit, written by run_pytest.py) the test counts are shown. The last line is
``total: N passed, N failed, N skipped`` (errors count as failed), the plain
closing line CI reads. Exits 1 if any stage failed or any test failed.
"""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET


def junit_counts(path):
    """Return (passed, failed, skipped) from a JUnit XML report."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == 'testsuite' else root.findall('testsuite')
    tests = failed = skipped = 0
    for suite in suites:
        tests += int(suite.get('tests', 0))
        failed += int(suite.get('failures', 0)) + int(suite.get('errors', 0))
        skipped += int(suite.get('skipped', 0))
    return tests - failed - skipped, failed, skipped


def main(argv):
    report_dir, stages = argv[1], argv[2:]
    totals = [0, 0, 0]
    parts = []
    bad = False
    for stage in stages:
        name, _sep, status = stage.partition('=')
        bad = bad or status != 'ok'
        report = os.path.join(report_dir, name + '.xml')
        if os.path.exists(report):
            counts = junit_counts(report)
            totals = [a + b for a, b in zip(totals, counts)]
            detail = '%d passed, %d failed, %d skipped' % counts
            parts.append('%s %s (%s)' % (name, status, detail))
        else:
            parts.append('%s %s' % (name, status))
    print('make test: ' + '; '.join(parts))
    print('total: %d passed, %d failed, %d skipped' % tuple(totals))
    return 1 if bad or totals[1] else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
