#!/usr/bin/env python
# Copyright: (c) 2025, flinkops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Print the closing summary of ``make test``.

Usage: summarize.py REPORT_DIR STAGE=STATUS[@SECONDS] [STAGE=STATUS[@SECONDS] ...]

STATUS is ``ok`` or ``FAILED``; SECONDS the stage's wall time. For a stage with
``REPORT_DIR/<stage>.xml`` (JUnit, written by run_pytest.py) the test counts are
shown, and the test files that took longest, so a slow CI run says where its time
went. The last line is ``total: N passed, N failed, N skipped`` (errors count as
failed), the plain closing line CI reads. Exits 1 if any stage failed or any test
failed.
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


def junit_file_times(path):
    """Return {test file: seconds} from a JUnit XML report (classname a.b.test_x.Class -> test_x)."""
    times = {}
    for case in ET.parse(path).getroot().iter('testcase'):
        parts = case.get('classname', '').split('.')
        modules = [p for p in parts if p.startswith('test_')] or parts[-1:]
        times[modules[0]] = times.get(modules[0], 0.0) + float(case.get('time') or 0)
    return times


def slowest_files(report_dir, stages, count=12):
    """Lines naming the slowest test files over every stage's report."""
    rows = []
    for name in stages:
        report = os.path.join(report_dir, name + '.xml')
        if os.path.exists(report):
            rows += [(secs, name, module) for module, secs in junit_file_times(report).items()]
    rows.sort(reverse=True)
    return ['  %6.0f s  %s: %s' % row for row in rows[:count]]


def main(argv):
    report_dir, stages = argv[1], argv[2:]
    totals = [0, 0, 0]
    parts = []
    names = []
    bad = False
    for stage in stages:
        name, _sep, status = stage.partition('=')
        status, _sep, seconds = status.partition('@')
        names.append(name)
        bad = bad or status != 'ok'
        report = os.path.join(report_dir, name + '.xml')
        if os.path.exists(report):
            counts = junit_counts(report)
            totals = [a + b for a, b in zip(totals, counts)]
            detail = '%d passed, %d failed, %d skipped' % counts
            parts.append('%s %s (%s%s)' % (name, status, detail, ', %s s' % seconds if seconds else ''))
        else:
            parts.append('%s %s%s' % (name, status, ' (%s s)' % seconds if seconds else ''))
    slow = slowest_files(report_dir, names)
    if slow:
        print('slowest test files:')
        print('\n'.join(slow))
    print('make test: ' + '; '.join(parts))
    print('total: %d passed, %d failed, %d skipped' % tuple(totals))
    return 1 if bad or totals[1] else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
