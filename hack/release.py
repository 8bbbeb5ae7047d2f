#!/usr/bin/env python
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Cut a release of flinkops.flink: ``make release VERSION=x.y.z [RELEASE_SUMMARY=file]``.

Run from the collection root (the checkout), in the dev venv (``make venv``). Offline.

1. Checks before anything changes: the version is new and well formed, the changelog
   fragments lint, exactly one release summary exists (a fragment with ``release_summary``,
   or the file given with ``--summary-file``, written as fragment ``<version>.yml``), and
   ``ansible-lint --profile production`` passes at the root.
2. Sets ``version`` in galaxy.yml and runs ``antsibull-changelog release`` (changelog.yaml
   and CHANGELOG.rst get the release; the fragments are removed, keep_fragments: false).
3. Builds ``flinkops-flink-<version>.tar.gz`` with ``ansible-galaxy collection build`` into
   ``--output-dir`` (build/release/) and checks that it holds no development file.
4. Runs galaxy-importer on the tarball (Galaxy's import checks: metadata, tags, ansible-doc
   of every plugin, changelog, ansible-lint) offline, without its container or ansible-test
   steps (hack/release-galaxy-importer.cfg); any error or warning fails the release
   (but the importer's own quirk, see importer_known).
5. Runs ``ansible-lint --profile production`` at the root again (the new changelog.yaml).

A failure after step 1 puts galaxy.yml, the changelog and its fragments back as they were.
It commits, tags and publishes nothing: it prints the commands for that at the end.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import shutil
import subprocess
import sys
import tarfile

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
IMPORTER_CONFIG = os.path.join(ROOT, 'hack', 'release-galaxy-importer.cfg')
MIRROR = os.path.join('build', 'ansible_collections', 'flinkops', 'flink')
SEMVER = re.compile(r'^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?$')
# Paths (top-level names or prefixes) that must never be in the tarball: development
# tooling, environments, generated output. galaxy.yml's build_ignore keeps them out.
DEV_PREFIXES = ('build/', '.venv', 'tests/output/', 'hack/', '.git/', '.github/', '.ci/',
                'bench/', 'demo/', 'requirements/', 'changelogs/fragments/', '.ansible/',
                '.cache/', '.pytest_cache/', 'Makefile', 'pytest.ini', '.gitignore',
                'changelogs/.plugin-cache.yaml', 'importer_result.json')
DEV_ANYWHERE = ('__pycache__/', '.pyc', '.egg-info/')
# galaxy-importer lines that are not findings about the collection, each with its reason.
# Anything else it logs as WARNING or ERROR fails the release.
#
# The importer runs ansible-lint with ANSIBLE_COLLECTIONS_PATH=<tmp>/ansible_collections;
# ansible-core accepts that form, but ansible-lint's import_playbook lookup appends another
# ansible_collections/ to it and misses the collection's own playbooks, which the examples
# import (examples/awx/project/deploy.yml: flinkops.flink.deploy). At the root, `make lint`
# resolves them. Such a line is known only when the playbook is in the tarball's playbooks/.
IMPORTER_OWN_PLAYBOOK = re.compile(r'^WARNING: ERROR +Failed to find flinkops\.flink\.(\w+) playbook\.$')


def importer_known(line, tarball_names):
    match = IMPORTER_OWN_PLAYBOOK.match(line.rstrip())
    return bool(match) and any(
        'playbooks/%s%s' % (match.group(1), ext) in tarball_names for ext in ('.yml', '.yaml'))


class ReleaseError(Exception):
    pass


def step(text):
    print('\n=== release: %s' % text, flush=True)


def run(cmd, **kwargs):
    print('+ ' + ' '.join(cmd), flush=True)
    try:
        proc = subprocess.run(cmd, cwd=kwargs.pop('cwd', ROOT), check=False, **kwargs)
    except OSError as err:
        raise ReleaseError('cannot run %s: %s (run `make release`, or from the dev venv)' % (cmd[0], err))
    if proc.returncode != 0:
        raise ReleaseError('%s failed (exit %d)' % (' '.join(cmd[:3]), proc.returncode))
    return proc


def version_key(version):
    match = SEMVER.match(version)
    major, minor, patch, pre = match.groups()
    # A pre-release sorts before its release.
    return (int(major), int(minor), int(patch), pre is None, pre or '')


def read_yaml(path):
    with open(path, encoding='utf-8') as handle:
        return yaml.safe_load(handle) or {}


def released_versions():
    return sorted((read_yaml(os.path.join(ROOT, 'changelogs', 'changelog.yaml')).get('releases') or {}),
                  key=lambda v: version_key(str(v)) if SEMVER.match(str(v)) else (0,))


def galaxy_version():
    return str(read_yaml(os.path.join(ROOT, 'galaxy.yml'))['version'])


def check_version(version):
    if not SEMVER.match(version):
        raise ReleaseError('VERSION %r is not a semantic version x.y.z' % version)
    released = [str(v) for v in released_versions()]
    if version in released:
        raise ReleaseError('%s is released already (changelogs/changelog.yaml)' % version)
    if released and SEMVER.match(released[-1]) and version_key(version) <= version_key(released[-1]):
        raise ReleaseError('%s is not newer than the last release, %s' % (version, released[-1]))
    print('version %s (galaxy.yml says %s; released before: %s)'
          % (version, galaxy_version(), ', '.join(released) or 'none'))


def warn_uncommitted():
    if not os.path.isdir(os.path.join(ROOT, '.git')):
        return
    proc = subprocess.run(['git', 'status', '--porcelain'], cwd=ROOT, capture_output=True, text=True, check=False)
    changed = proc.stdout.splitlines()
    if changed:
        print('WARNING: %d uncommitted change(s) go into this release (git status --porcelain), e.g. %s'
              % (len(changed), '; '.join(c.strip() for c in changed[:5])))


def fragments_dir():
    return os.path.join(ROOT, 'changelogs', 'fragments')


def summary_fragments():
    found = []
    for name in sorted(os.listdir(fragments_dir())):
        if name.endswith(('.yml', '.yaml')):
            if 'release_summary' in read_yaml(os.path.join(fragments_dir(), name)):
                found.append(name)
    return found


def prepare_summary(version, summary_file, snapshot):
    existing = summary_fragments()
    if summary_file:
        if existing:
            raise ReleaseError('a release summary exists already in changelogs/fragments/%s; '
                               'drop --summary-file or that fragment' % existing[0])
        with open(summary_file, encoding='utf-8') as handle:
            text = handle.read().strip()
        if not text:
            raise ReleaseError('the release summary file %s is empty' % summary_file)
        path = os.path.join(fragments_dir(), '%s.yml' % version)
        snapshot.created.append(os.path.relpath(path, ROOT))
        with open(path, 'w', encoding='utf-8') as handle:
            handle.write('---\n')
            yaml.safe_dump({'release_summary': text}, handle, default_flow_style=False, width=100)
        print('release summary from %s -> changelogs/fragments/%s.yml' % (summary_file, version))
        return
    if len(existing) != 1:
        raise ReleaseError(
            'need exactly one release summary, found %d (%s): add a fragment '
            'changelogs/fragments/<name>.yml with a `release_summary:` text, or pass '
            'RELEASE_SUMMARY=<file>' % (len(existing), ', '.join(existing) or 'none'))
    print('release summary from changelogs/fragments/%s' % existing[0])


def set_galaxy_version(version):
    path = os.path.join(ROOT, 'galaxy.yml')
    with open(path, encoding='utf-8') as handle:
        text = handle.read()
    new, count = re.subn(r'^version:.*$', 'version: %s' % version, text, count=1, flags=re.M)
    if count != 1:
        raise ReleaseError('galaxy.yml has no top-level `version:` line')
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write(new)
    if galaxy_version() != version:
        raise ReleaseError('galaxy.yml version is %s after the edit' % galaxy_version())
    print('galaxy.yml: version: %s' % version)


def sync_mirror():
    # ansible-lint resolves flinkops.flink.* through ANSIBLE_COLLECTIONS_PATH=build (the Makefile).
    run([sys.executable, os.path.join('hack', 'sync_collection.py'), '.', MIRROR],
        stdout=subprocess.DEVNULL)


def ansible_lint():
    sync_mirror()
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, 'build'), NO_COLOR='1')
    run(['ansible-lint', '--offline', '--profile', 'production', '--nocolor'], env=env)


def check_version_added(version):
    """Warn about plugins and roles the changelog cannot list as new in this release."""
    cache = read_yaml(os.path.join(ROOT, 'changelogs', '.plugin-cache.yaml'))
    released = {str(v) for v in released_versions()}
    entries = []
    for kind, items in list((cache.get('plugins') or {}).items()) + list((cache.get('objects') or {}).items()):
        for name, data in (items or {}).items():
            entries.append(('%s %s' % (kind, name), data.get('version_added')))
    for what, added in sorted(entries):
        if added is None:
            print('WARNING: %s has no version_added: the changelog lists it in no release' % what)
        elif str(added) not in released:
            print('WARNING: %s says version_added %s, which is no release (this one is %s)'
                  % (what, added, version))


def build(version, output_dir):
    os.makedirs(output_dir, exist_ok=True)
    tarball = os.path.join(output_dir, 'flinkops-flink-%s.tar.gz' % version)
    if os.path.exists(tarball):
        os.remove(tarball)
    run(['ansible-galaxy', 'collection', 'build', '--force', '--output-path', output_dir, '.'])
    if not os.path.isfile(tarball):
        raise ReleaseError('ansible-galaxy built no %s' % tarball)
    return tarball


def dev_files(names):
    bad = []
    for name in names:
        path = name[2:] if name.startswith('./') else name
        probe = path + '/'
        if any(probe.startswith(p) or path == p.rstrip('/') or path.startswith(p) for p in DEV_PREFIXES) \
                or any(a in probe for a in DEV_ANYWHERE):
            bad.append(path)
    return bad


def check_tarball(tarball, version):
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
        manifest = archive.extractfile('MANIFEST.json').read().decode('utf-8')
        changelog = archive.extractfile('CHANGELOG.rst').read().decode('utf-8') \
            if 'CHANGELOG.rst' in names else ''
    bad = dev_files(names)
    if bad:
        raise ReleaseError('the tarball holds development files (extend build_ignore in '
                           'galaxy.yml): %s' % ', '.join(sorted(bad)[:20]))
    if '"version": "%s"' % version not in manifest:
        raise ReleaseError('MANIFEST.json of the tarball does not say version %s' % version)
    if not re.search(r'^v%s$' % re.escape(version), changelog, re.M):
        raise ReleaseError('CHANGELOG.rst in the tarball has no section v%s' % version)
    print('%s: %d entries, no development file, MANIFEST.json and CHANGELOG.rst say %s (%d kB)'
          % (os.path.basename(tarball), len(names), version, os.path.getsize(tarball) // 1024))


# galaxy-importer gives its ansible-lint run a fixed 180 s and reports only this line when
# the run is cut off (seen on a machine at load 28): no finding, no verdict. Asked once more.
IMPORTER_LINT_TIMEOUT = 'ERROR: Timeout on call to ansible-lint'


def galaxy_importer(tarball, output_dir):
    for attempt in (1, 2):
        problems = run_galaxy_importer(tarball, output_dir)
        if problems != [IMPORTER_LINT_TIMEOUT] or attempt == 2:
            break
        print('galaxy-importer: its ansible-lint run was cut off at 180 s, no verdict; once more', flush=True)
    if problems:
        raise ReleaseError('galaxy-importer reported %d error(s)/warning(s), see %s: %s'
                           % (len(problems), os.path.join(output_dir, 'galaxy-importer.log'),
                              ' | '.join(problems[:5])))
    print('galaxy-importer: no error, no warning but its known quirk (importer_known) (log: %s)'
          % os.path.relpath(os.path.join(output_dir, 'galaxy-importer.log'), ROOT))


def run_galaxy_importer(tarball, output_dir):
    """One galaxy-importer run; its problems (an exit status or a missing success line counts)."""
    work = os.path.join(output_dir, 'importer')
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, 'tmp'))
    env = dict(os.environ, GALAXY_IMPORTER_CONFIG=IMPORTER_CONFIG,
               GALAXY_IMPORTER_TMP_ROOT_DIR=os.path.join(work, 'tmp'),
               GALAXY_IMPORTER_ANSIBLE_LOCAL_TMP=os.path.join(work, 'ansible-tmp'),
               NO_COLOR='1', ANSIBLE_NOCOLOR='1')
    # The importer's ansible-lint resolves collections in the extracted tree only.
    env.pop('ANSIBLE_COLLECTIONS_PATH', None)
    cmd = [sys.executable, '-m', 'galaxy_importer.main', os.path.abspath(tarball)]
    print('+ GALAXY_IMPORTER_CONFIG=%s %s' % (os.path.relpath(IMPORTER_CONFIG, ROOT), ' '.join(cmd[1:])),
          flush=True)
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, check=False)
    output = proc.stdout + proc.stderr
    log = os.path.join(output_dir, 'galaxy-importer.log')
    with open(log, 'w', encoding='utf-8') as handle:
        handle.write(output)
    print(output.rstrip())
    with tarfile.open(tarball) as archive:
        names = {n[2:] if n.startswith('./') else n for n in archive.getnames()}
    problems = [line for line in output.splitlines()
                if line.startswith(('ERROR', 'WARNING', 'CRITICAL')) and not importer_known(line, names)]
    if proc.returncode != 0:
        problems.append('exit status %d' % proc.returncode)
    elif not problems and 'Importer processing completed successfully' not in output:
        problems.append('no "Importer processing completed successfully" line')
    return problems


class Snapshot:
    """The files a release changes, to put back when a later step fails."""

    PATHS = ('galaxy.yml', 'CHANGELOG.rst', os.path.join('changelogs', 'changelog.yaml'),
             os.path.join('changelogs', '.plugin-cache.yaml'))

    def __init__(self):
        self.created = []  # files this release wrote that were not there before
        self.files = {}
        for path in self.PATHS + tuple(os.path.join('changelogs', 'fragments', n)
                                       for n in os.listdir(fragments_dir())):
            full = os.path.join(ROOT, path)
            if os.path.isfile(full):
                with open(full, 'rb') as handle:
                    self.files[path] = handle.read()

    def restore(self):
        for path in self.created:
            if os.path.exists(os.path.join(ROOT, path)):
                os.remove(os.path.join(ROOT, path))
        for path in self.PATHS:
            if path not in self.files and os.path.exists(os.path.join(ROOT, path)):
                os.remove(os.path.join(ROOT, path))
        for path, data in self.files.items():
            with open(os.path.join(ROOT, path), 'wb') as handle:
                handle.write(data)
        print('put back galaxy.yml, the changelog and its fragments as they were', file=sys.stderr)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('version')
    parser.add_argument('--summary-file', help='text of the release summary (else a fragment has it)')
    parser.add_argument('--output-dir', default=os.path.join(ROOT, 'build', 'release'))
    parser.add_argument('--date', help='release date YYYY-MM-DD (default: today, UTC)')
    args = parser.parse_args(argv)
    version = args.version
    output_dir = os.path.abspath(args.output_dir)
    date = args.date or datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d')
    os.chdir(ROOT)
    # The tools of the venv whose Python runs this script come first (as with `make`).
    os.environ['PATH'] = os.path.dirname(os.path.abspath(sys.executable)) + os.pathsep + os.environ.get('PATH', '')
    snapshot = None
    try:
        step('checks before anything changes')
        check_version(version)
        warn_uncommitted()
        snapshot = Snapshot()
        prepare_summary(version, args.summary_file, snapshot)
        run(['antsibull-changelog', 'lint'])
        ansible_lint()

        step('galaxy.yml and changelog')
        set_galaxy_version(version)
        run(['antsibull-changelog', 'release', '--version', version, '--date', date])
        if version not in [str(v) for v in released_versions()]:
            raise ReleaseError('changelogs/changelog.yaml has no release %s' % version)
        check_version_added(version)

        step('build')
        tarball = build(version, output_dir)
        check_tarball(tarball, version)

        step('galaxy-importer')
        galaxy_importer(tarball, output_dir)

        step('ansible-lint --profile production at the root')
        ansible_lint()
    except ReleaseError as err:
        print('\nrelease %s FAILED: %s' % (version, err), file=sys.stderr)
        if snapshot is not None:
            snapshot.restore()
        return 1
    except BaseException:
        if snapshot is not None:
            snapshot.restore()
        raise
    print('\nrelease %s ready: %s' % (version, os.path.relpath(tarball, ROOT)))
    print('Next (by hand): review `git diff`, then\n'
          '  git add -A galaxy.yml CHANGELOG.rst changelogs\n'
          '  git commit -m "Release %s"\n'
          '  git tag -a %s -m "flinkops.flink %s"\n'
          '  git push origin main %s   # and attach the tarball to the release of tag %s'
          % (version, version, version, version, version))
    return 0


if __name__ == '__main__':
    sys.exit(main())
