#!/usr/bin/env python
# Copyright: (c) 2025, flinkops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the integration suite once per Flink version and print a table (``make test-matrix``).

Usage: matrix.py REPORT_DIR [--versions 1.18,1.19,...] DIR [DIR ...] [-- PYTEST_ARGS ...]

One pytest session per version (FLINKOPS_TEST_FLINK_VERSIONS=<version>), so
only one cluster of the matrix runs at a time; a failing version does not stop
the next one. Each session writes REPORT_DIR/matrix-<version>.xml (JUnit, via
run_pytest.py); the table (version, passed, failed, skipped, time) is printed
and also written to REPORT_DIR/matrix.md. Exits 1 if any version failed, had a
failing test, or ran no test at all.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

# hack/ is on sys.path: this file runs as a script (`python hack/matrix.py`).
from summarize import junit_counts

HERE = os.path.dirname(os.path.abspath(__file__))

ALL_VERSIONS = '1.18,1.19,1.20,2.0,2.1,2.2,2.3'


def flink_exact(version):
    try:
        from flinkops_devkit.provision import resolve_version  # pylint: disable=import-outside-toplevel
        return resolve_version(version)
    except Exception:  # pylint: disable=broad-except
        return version


def fmt_time(seconds):
    return '%dm%02ds' % divmod(int(round(seconds)), 60)


def table(rows):
    lines = ['| Flink | passed | failed | skipped | time | result |',
             '|-------|-------:|-------:|--------:|-----:|--------|']
    for row in rows:
        lines.append('| %(version)s | %(passed)d | %(failed)d | %(skipped)d | %(time)s | %(result)s |'
                     % row)
    return lines


def main(argv):
    args = argv[1:]
    extra = []
    if '--' in args:
        extra = args[args.index('--') + 1:]
        args = args[:args.index('--')]
    if not args:
        sys.stderr.write(__doc__)
        return 2
    report_dir = args.pop(0)
    versions = os.environ.get('FLINKOPS_MATRIX_VERSIONS') or ALL_VERSIONS
    if args and args[0] == '--versions':
        versions = args[1]
        args = args[2:]
    dirs = args
    os.makedirs(report_dir, exist_ok=True)
    rows = []
    started = time.monotonic()
    for version in [v.strip() for v in versions.split(',') if v.strip()]:
        junit = os.path.join(report_dir, 'matrix-%s.xml' % version)
        env = dict(os.environ, FLINKOPS_TEST_FLINK_VERSIONS=version)
        print('=== Flink %s (%s)' % (version, flink_exact(version)), flush=True)
        t0 = time.monotonic()
        rc = subprocess.call([sys.executable, os.path.join(HERE, 'run_pytest.py'), junit]
                             + dirs + ['--'] + extra, env=env)
        elapsed = time.monotonic() - t0
        passed = failed = skipped = 0
        if os.path.exists(junit):
            passed, failed, skipped = junit_counts(junit)
        ok = rc == 0 and failed == 0 and passed > 0
        rows.append({'version': flink_exact(version), 'passed': passed, 'failed': failed,
                     'skipped': skipped, 'time': fmt_time(elapsed),
                     'result': 'ok' if ok else 'FAILED (pytest exit %d)' % rc})
        print('=== Flink %s: %d passed, %d failed, %d skipped in %s' % (
            version, passed, failed, skipped, fmt_time(elapsed)), flush=True)
    lines = table(rows)
    total = 'total time %s' % fmt_time(time.monotonic() - started)
    with open(os.path.join(report_dir, 'matrix.md'), 'w') as handle:
        handle.write('\n'.join(lines + ['', total]) + '\n')
    print()
    print('\n'.join(lines))
    print(total)
    return 0 if all(row['result'] == 'ok' for row in rows) else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv))
