#!/usr/bin/env python
# Copyright: (c) 2025, flinkops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline stand-in for the ``get-pip.py`` that ansible-test downloads.

ansible-test bootstraps pip into each virtual environment it creates by running
``~/.ansible/test/cache/get_pip_<version>.py`` and, when that file is missing,
downloads it from a host this project's machines cannot reach. This file is
that stand-in. It has two uses:

``python hack/get_pip_standin.py --install``
    Run with the venv's python (``make sanity`` does): read the pip version(s)
    the installed ansible-test bootstraps (``pip='24.2'`` in
    ``ansible_test/_internal/python_requirements.py``) and copy this file to
    ``~/.ansible/test/cache/get_pip_<version>.py`` for each of them.

run by ansible-test as ``get_pip_<version>.py [pip options] pip==X [--no-setuptools] [--no-wheel]``
    Install the pip bundled with Python (``ensurepip``), then install what
    ansible-test asked for from the package index with that pip.
    ``--no-setuptools``/``--no-wheel`` are get-pip options that pip itself
    does not know, so they are dropped.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys

MARKER = 'flinkops get-pip stand-in'
GET_PIP_ONLY_OPTIONS = ('--no-setuptools', '--no-wheel')


def bootstrap(args):
    """Do what get-pip.py does, from ensurepip and the package index."""
    subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade', '--default-pip'])
    pip_args = [arg for arg in args if arg not in GET_PIP_ONLY_OPTIONS]
    subprocess.check_call([sys.executable, '-m', 'pip', 'install'] + pip_args)
    return 0


def wanted_pip_versions():
    """Return the pip versions the installed ansible-test bootstraps."""
    import ansible_test  # pylint: disable=import-outside-toplevel

    root = os.path.dirname(ansible_test.__file__)
    versions = set()
    for path in glob.glob(os.path.join(root, '_internal', 'python_requirements.py')):
        with open(path, encoding='utf-8') as source:
            versions.update(re.findall(r"\bpip='([0-9][0-9.]*)'", source.read()))
    if not versions:
        raise SystemExit('get_pip_standin: no pip version found in %s' % root)
    return sorted(versions)


def install():
    """Copy this file into ansible-test's cache for every pip version it wants."""
    cache = os.path.expanduser('~/.ansible/test/cache')
    os.makedirs(cache, exist_ok=True)
    for version in wanted_pip_versions():
        target = os.path.join(cache, 'get_pip_%s.py' % version.replace('.', '_'))
        if os.path.exists(target):
            with open(target, encoding='utf-8', errors='replace') as existing:
                if MARKER not in existing.read():
                    print('get-pip %s: keeping the real bootstrap script %s' % (version, target))
                    continue
        shutil.copyfile(os.path.abspath(__file__), target)
        print('get-pip %s: stand-in installed at %s' % (version, target))
    return 0


def main(argv):
    if argv[1:] == ['--install']:
        return install()
    return bootstrap(argv[1:])


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv))
    except subprocess.CalledProcessError as ex:
        sys.exit(ex.returncode)
