#!/usr/bin/env python
# Copyright: (c) 2025, flinkops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mirror the checkout into ``<dest>`` (``build/ansible_collections/flinkops/flink``).

ansible-test needs the collection at ``ansible_collections/<namespace>/<name>/``
and writes ``tests/output/`` inside it; that output must stay out of the source
tree. The mirror holds exactly the files git would track (tracked plus
untracked-but-not-ignored, so work in progress is tested too), as copies, not
symlinks. Files unchanged since the last run are not copied again; files that
left the checkout are removed. ``tests/output/`` and tool caches in the mirror
are kept.

Usage: sync_collection.py SOURCE_DIR DEST_DIR
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

# Never mirrored, whether or not git is available to say so.
EXCLUDED_TOP = {'.git', '.venv', 'build', '.ansible', '.cache'}
EXCLUDED_ANY = {'__pycache__', '.pytest_cache'}
# Generated inside the mirror; a sync must not delete them.
KEPT_IN_DEST = ('tests/output/', '.pytest_cache/', '.ansible/')


def _excluded(rel):
    parts = rel.split('/')
    if parts[0] in EXCLUDED_TOP or parts[0].startswith('.venv-'):
        return True
    if rel.startswith('tests/output/'):
        return True
    return any(part in EXCLUDED_ANY for part in parts) or rel.endswith('.pyc')


def list_files(src):
    """Return the relative paths of the files that make up the collection."""
    if os.path.exists(os.path.join(src, '.git')) and shutil.which('git'):
        out = subprocess.run(
            ['git', '-C', src, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
            check=True, stdout=subprocess.PIPE,
        ).stdout.decode('utf-8')
        candidates = [p for p in out.split('\0') if p]
    else:
        candidates = []
        for root, dirs, files in os.walk(src):
            rel_root = os.path.relpath(root, src).replace(os.sep, '/')
            rel_root = '' if rel_root == '.' else rel_root + '/'
            dirs[:] = [d for d in dirs if not _excluded(rel_root + d)]
            candidates.extend(rel_root + f for f in files)
    # git lists files deleted from the work tree but still in the index: skip them.
    return sorted(p for p in candidates
                  if not _excluded(p) and os.path.lexists(os.path.join(src, p)))


def _same(src_path, dst_path):
    try:
        s, d = os.lstat(src_path), os.lstat(dst_path)
    except FileNotFoundError:
        return False
    return s.st_size == d.st_size and int(s.st_mtime) == int(d.st_mtime) and s.st_mode == d.st_mode


def sync(src, dest):
    """Copy the listed files from src to dest and prune what is gone. Return counts."""
    files = list_files(src)
    wanted = set(files)
    copied = 0
    for rel in files:
        src_path, dst_path = os.path.join(src, rel), os.path.join(dest, rel)
        if _same(src_path, dst_path):
            continue
        os.makedirs(os.path.dirname(dst_path), exist_ok=True)
        if os.path.lexists(dst_path) or os.path.isdir(dst_path):
            if os.path.isdir(dst_path) and not os.path.islink(dst_path):
                shutil.rmtree(dst_path)
            else:
                os.unlink(dst_path)
        shutil.copy2(src_path, dst_path, follow_symlinks=False)
        copied += 1

    removed = 0
    for root, dirs, names in os.walk(dest, topdown=True):
        rel_root = os.path.relpath(root, dest).replace(os.sep, '/')
        rel_root = '' if rel_root == '.' else rel_root + '/'
        dirs[:] = [d for d in dirs if not (rel_root + d + '/').startswith(KEPT_IN_DEST)
                   and d != '__pycache__']
        for name in names:
            if rel_root + name not in wanted:
                os.unlink(os.path.join(root, name))
                removed += 1
    # Drop directories left empty by the pruning (deepest first).
    for root, dirs, names in os.walk(dest, topdown=False):
        if root != dest and not os.listdir(root):
            os.rmdir(root)
    return len(files), copied, removed


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    src, dest = os.path.abspath(argv[1]), os.path.abspath(argv[2])
    total, copied, removed = sync(src, dest)
    print('collection: %d files in %s (%d copied, %d removed)'
          % (total, os.path.relpath(dest), copied, removed))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
