# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The release process end to end: ``make release VERSION=1.0.0`` in a scratch copy of the checkout.

The copy leaves out what is not source (build/, the venvs, tests/output, caches, .git); the
release runs offline with the venv running this test (its galaxy-importer, ansible-lint,
antsibull-changelog), which make is told never to reinstall (``-o <venv>/.installed``), so
nothing of the checkout, nor its venv, changes. About two minutes: ansible-doc of every plugin
and three ansible-lint runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

VERSION = '1.0.0'
SKIP_TOP = {'.git', 'build', '.pytest_cache', '.ansible', '.cache', 'importer_result.json'}
SKIP_ANY = {'__pycache__', '.mypy_cache', '.ruff_cache'}
DEV_FILES = ('build/', '.venv', 'tests/output/', 'hack/', '.git/', 'bench/', 'demo/',
             'requirements/', 'changelogs/fragments/', 'Makefile', '.pytest_cache/')


def checkout_root():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.abspath(os.path.join(here, '..', '..'))
    if not os.path.isfile(os.path.join(root, 'galaxy.yml')):
        pytest.skip('not run from a checkout (no galaxy.yml above tests/)')
    return root


def ignore(root):
    def _ignore(directory, names):
        rel = os.path.relpath(directory, root)
        skipped = {n for n in names if n in SKIP_ANY}
        if rel == '.':
            skipped |= {n for n in names if n in SKIP_TOP or n.startswith('.venv') or n.endswith('.tar.gz')}
        if rel == 'tests':
            skipped |= {'output'} & set(names)
        return skipped
    return _ignore


def tree_state(root):
    """What a release changes: galaxy.yml, the changelog, and the fragments it removes.

    Compared as contents and as "still there", as other work may add fragments meanwhile."""
    state = {}
    for path in ('galaxy.yml', 'changelogs/changelog.yaml', 'CHANGELOG.rst'):
        full = os.path.join(root, path)
        state[path] = None
        if os.path.exists(full):
            with open(full, 'rb') as handle:
                state[path] = hashlib.sha256(handle.read()).hexdigest()
    return state


def read_yaml(path):
    with open(path, encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def fragments(root):
    return set(os.listdir(os.path.join(root, 'changelogs', 'fragments')))


def has_release_summary(root):
    directory = os.path.join(root, 'changelogs', 'fragments')
    return any('release_summary' in (read_yaml(os.path.join(directory, name)) or {})
               for name in os.listdir(directory) if name.endswith('.yml'))


@pytest.fixture(scope='module')
def release(tmp_path_factory):
    root = checkout_root()
    try:
        import galaxy_importer  # noqa: F401  pylint: disable=unused-import,import-outside-toplevel
    except ImportError:
        pytest.fail('galaxy-importer is not installed in this venv: `make venv` (requirements/test.txt)')
    before = tree_state(root)
    fragments_before = fragments(root)

    scratch = str(tmp_path_factory.mktemp('release') / 'flink')
    shutil.copytree(root, scratch, symlinks=True, ignore=ignore(root))
    venv = os.path.dirname(os.path.dirname(os.path.abspath(sys.executable)))
    env = dict(os.environ, NO_COLOR='1', ANSIBLE_NOCOLOR='1', PIP_NO_INDEX='1')
    # The venv of this test, and never a reinstall of it from the copy (the copy's
    # editable dev package would replace the checkout's).
    cmd = ['make', '-C', scratch, 'release', 'VERSION=%s' % VERSION, 'VENV=%s' % venv,
           'PYTHON=%s' % sys.executable, '-o', os.path.join(venv, '.installed')]
    if not has_release_summary(scratch):
        # After a release its summary fragment is gone: the next one's comes as a file.
        summary = os.path.join(str(tmp_path_factory.mktemp('summary')), 'summary.txt')
        with open(summary, 'w', encoding='utf-8') as handle:
            handle.write('A release cut by the release test in a scratch copy.\n')
        cmd.append('RELEASE_SUMMARY=%s' % summary)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, check=False)
    output = proc.stdout + proc.stderr

    assert tree_state(root) == before, 'the release in the scratch copy changed the checkout\n' + output[-3000:]
    assert fragments_before <= fragments(root), 'fragments of the checkout were removed\n' + output[-3000:]
    return {'root': scratch, 'rc': proc.returncode, 'output': output}


def test_release_succeeds(release):
    assert release['rc'] == 0, release['output'][-6000:]
    assert 'release %s ready' % VERSION in release['output']


def test_tarball_exists_and_holds_no_dev_files(release):
    tarball = os.path.join(release['root'], 'build', 'release', 'flinkops-flink-%s.tar.gz' % VERSION)
    assert os.path.isfile(tarball), release['output'][-3000:]
    with tarfile.open(tarball) as archive:
        names = [n[2:] if n.startswith('./') else n for n in archive.getnames()]
        manifest = json.load(archive.extractfile('MANIFEST.json'))
    bad = [n for n in names if any((n + '/').startswith(p) or n.startswith(p) for p in DEV_FILES)
           or '__pycache__' in n or n.endswith('.pyc')]
    assert not bad, bad
    assert manifest['collection_info']['version'] == VERSION
    for needed in ('README.md', 'COPYING', 'LICENSES/GPL-3.0-or-later.txt', 'CHANGELOG.rst',
                   'changelogs/changelog.yaml', 'meta/runtime.yml', 'plugins/modules/flink_job.py'):
        assert needed in names, needed


def test_galaxy_importer_reports_no_error(release):
    log = os.path.join(release['root'], 'build', 'release', 'galaxy-importer.log')
    assert os.path.isfile(log), release['output'][-3000:]
    with open(log, encoding='utf-8') as handle:
        text = handle.read()
    assert 'Importer processing completed successfully' in text, text[-3000:]
    errors = [line for line in text.splitlines() if line.startswith(('ERROR', 'CRITICAL'))]
    assert not errors, errors
    # Its warnings (the findings of its ansible-lint run) fail the release but for a known quirk
    # of the importer, which the release names.
    assert 'galaxy-importer: no error, no warning' in release['output'], release['output'][-3000:]


def test_changelog_has_the_release(release):
    changes = read_yaml(os.path.join(release['root'], 'changelogs', 'changelog.yaml'))
    assert VERSION in changes['releases'], sorted(changes['releases'])
    entry = changes['releases'][VERSION]['changes']
    assert entry.get('release_summary'), entry
    if len(changes['releases']) == 1:
        # The first release: nothing was released before, so there is no fix to tell a user of.
        assert 'bugfixes' not in entry, ('a first release fixes nothing a user had: move these into '
                                         'minor_changes or drop them: %s' % entry['bugfixes'])
    with open(os.path.join(release['root'], 'CHANGELOG.rst'), encoding='utf-8') as handle:
        rst = handle.read()
    assert re.search(r'^v%s$' % re.escape(VERSION), rst, re.M), rst[:2000]
    # keep_fragments: false: the released fragments are gone from the copy.
    left = [n for n in os.listdir(os.path.join(release['root'], 'changelogs', 'fragments')) if n.endswith('.yml')]
    assert not left, left


def test_galaxy_yml_version_bumped(release):
    galaxy = read_yaml(os.path.join(release['root'], 'galaxy.yml'))
    assert str(galaxy['version']) == VERSION
