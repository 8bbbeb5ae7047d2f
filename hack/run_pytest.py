#!/usr/bin/env python
# Copyright: (c) 2025, flinkops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run pytest on some test directories, writing a JUnit report for ``make test``.

Usage: run_pytest.py JUNIT_XML PATH [PATH ...] [-- PYTEST_ARGS ...]  (directories or test files)

Paths that do not exist are skipped. pytest exits 5 when it collected no
test: that is success only while none of the directories holds a test file yet
(``test_*.py`` / ``*_test.py``); once test files exist, collecting nothing is a
failure (a broken conftest, a wrong pattern, a marker that deselects all).
"""

from __future__ import annotations

import os
import subprocess
import sys

NO_TESTS_COLLECTED = 5


def is_test_file(name):
    name = os.path.basename(name)
    return name.endswith('.py') and (name.startswith('test_') or name.endswith('_test.py'))


def has_test_files(paths):
    for top in paths:
        if os.path.isfile(top) and is_test_file(top):
            return True
        for _root, subdirs, files in os.walk(top):
            subdirs[:] = [d for d in subdirs if d not in ('__pycache__', 'output')]
            if any(is_test_file(f) for f in files):
                return True
    return False


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    args = argv[1:]
    extra = []
    if '--' in args:
        extra = args[args.index('--') + 1:]
        args = args[:args.index('--')]
    # Directories or test files; those that do not exist are skipped.
    junit, dirs = args[0], [d for d in args[1:] if os.path.exists(d)]
    if os.path.exists(junit):
        os.unlink(junit)
    if not dirs:
        print('pytest: none of %s exists yet: nothing to run' % ' '.join(args[1:]))
        return 0
    os.makedirs(os.path.dirname(os.path.abspath(junit)), exist_ok=True)
    cmd = [sys.executable, '-m', 'pytest', '--junitxml=' + junit] + extra + dirs
    print('+ ' + ' '.join(cmd), flush=True)
    rc = subprocess.call(cmd)
    if rc == NO_TESTS_COLLECTED:
        if has_test_files(dirs):
            print('pytest: test files exist in %s but no test was collected' % ' '.join(dirs))
            return rc
        print('pytest: no test files in %s yet' % ' '.join(dirs))
        return 0
    return rc


if __name__ == '__main__':
    sys.exit(main(sys.argv))
