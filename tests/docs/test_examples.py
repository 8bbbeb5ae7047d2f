# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The documentation cannot drift from the code.

* Every module's EXAMPLES, as a playbook (``hosts: localhost``, the examples as
  tasks), passes ``ansible-playbook --syntax-check``: the YAML parses, and every
  module and option-less keyword resolves (an unknown module is an error).
* Every example task calls a module by its fully qualified name, and examples
  of this collection's modules use only options the module has.
* The playbooks under docs/docsite/examples/ pass ``--syntax-check``, and the
  getting-started guide shows its playbook exactly as the file has it.
* YAML examples in role READMEs (roles/*/README.md), once they exist, too.

Run with ``make examples`` (or ``make test``): it refreshes build/, which
ANSIBLE_COLLECTIONS_PATH points at, so flinkops.flink.* is this checkout.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS_PATH = ROOT / 'build'
MIRROR = COLLECTIONS_PATH / 'ansible_collections' / 'flinkops' / 'flink'
MODULES = sorted(p for p in (ROOT / 'plugins' / 'modules').glob('*.py') if p.name != '__init__.py')
DOC_PLAYBOOKS = sorted((ROOT / 'docs' / 'docsite' / 'examples').glob('*.yml'))
ROLE_READMES = sorted((ROOT / 'roles').glob('*/README.md'))
GUIDE = ROOT / 'docs' / 'docsite' / 'rst' / 'getting_started.rst'
GETTING_STARTED = ROOT / 'docs' / 'docsite' / 'examples' / 'getting-started.yml'

# Task keywords that are not the module (ansible.builtin's playbook keywords).
TASK_KEYWORDS = {
    'name', 'register', 'when', 'loop', 'loop_control', 'with_items', 'with_dict', 'vars',
    'check_mode', 'diff', 'become', 'become_user', 'changed_when', 'failed_when',
    'ignore_errors', 'no_log', 'tags', 'notify', 'delegate_to', 'run_once', 'until',
    'retries', 'delay', 'environment', 'module_defaults', 'block', 'rescue', 'always',
    'args', 'async', 'poll', 'throttle', 'timeout', 'any_errors_fatal', 'collections',
    'connection', 'debugger', 'delegate_facts', 'ignore_unreachable', 'listen', 'local_action',
    'port', 'remote_user', 'become_method', 'become_flags', 'become_exe', 'action',
}


def module_docs(path):
    """DOCUMENTATION (parsed) and EXAMPLES (text) of a module, read without importing it."""
    found = {}
    tree = ast.parse(path.read_text(encoding='utf-8'))
    for node in ast.walk(tree):  # a doc fragment keeps DOCUMENTATION in its class
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                isinstance(node.targets[0], ast.Name) and \
                node.targets[0].id in ('DOCUMENTATION', 'EXAMPLES'):
            found[node.targets[0].id] = ast.literal_eval(node.value)
    return yaml.safe_load(found.get('DOCUMENTATION') or '{}') or {}, found.get('EXAMPLES')


def option_names(documentation):
    """The options a DOCUMENTATION declares, aliases included."""
    names = set()
    for name, spec in (documentation.get('options') or {}).items():
        names |= {name} | set(spec.get('aliases') or [])
    return names


def ansible_env():
    env = dict(os.environ)
    env['ANSIBLE_COLLECTIONS_PATH'] = str(COLLECTIONS_PATH)
    env['ANSIBLE_NOCOLOR'] = '1'
    env.setdefault('ANSIBLE_LOCALHOST_WARNING', 'False')
    env.setdefault('ANSIBLE_INVENTORY_UNPARSED_WARNING', 'False')
    return env


def ansible_playbook():
    candidate = Path(sys.executable).parent / 'ansible-playbook'
    return str(candidate) if candidate.exists() else 'ansible-playbook'


def syntax_check(playbook):
    if not (MIRROR / 'galaxy.yml').exists():
        pytest.fail('%s is missing: run `make collection` (or `make examples`)' % MIRROR)
    proc = subprocess.run(
        [ansible_playbook(), '--syntax-check', '-i', 'localhost,', str(playbook)],
        cwd=str(playbook.parent), env=ansible_env(), capture_output=True, text=True, check=False)
    assert proc.returncode == 0, '--syntax-check failed for %s:\n%s%s' % (
        playbook, proc.stdout, proc.stderr)


def as_playbook(tasks, name):
    return [{'name': name, 'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}]


def task_module(task):
    modules = [key for key in task if key not in TASK_KEYWORDS]
    assert len(modules) == 1, 'task %r: expected one module, found %r' % (
        task.get('name'), modules)
    return modules[0]


def all_tasks(tasks):
    for task in tasks:
        yield task
        for section in ('block', 'rescue', 'always'):
            yield from all_tasks(task.get(section) or [])


@pytest.mark.parametrize('module', MODULES, ids=[p.stem for p in MODULES])
def test_module_examples(module, tmp_path):
    documentation, examples = module_docs(module)
    assert examples and examples.strip(), '%s has no EXAMPLES' % module.name
    tasks = yaml.safe_load(examples)
    assert isinstance(tasks, list) and tasks, '%s: EXAMPLES is not a list of tasks' % module.name
    own = 'flinkops.flink.' + module.stem
    options = option_names(documentation)
    for fragment in documentation.get('extends_documentation_fragment') or []:
        if fragment.startswith('flinkops.flink.'):
            # flinkops.flink.<file>[.<section>]: the options live in the file's DOCUMENTATION
            options |= option_names(module_docs(
                module.parents[1] / 'doc_fragments' / (fragment.split('.')[2] + '.py'))[0])
    used_own = False
    for task in all_tasks(tasks):
        if 'block' in task:
            continue
        name = task_module(task)
        assert name.count('.') == 2, 'task %r: use the FQCN, not %r' % (task.get('name'), name)
        if name == own:
            used_own = True
            unknown = set(task[name] or {}) - options
            assert not unknown, 'task %r: %s has no option(s) %s' % (
                task.get('name'), own, ', '.join(sorted(unknown)))
    assert used_own, '%s: no example calls %s' % (module.name, own)
    playbook = tmp_path / ('examples-%s.yml' % module.stem)
    playbook.write_text(yaml.safe_dump(as_playbook(tasks, 'EXAMPLES of ' + own),
                                       sort_keys=False), encoding='utf-8')
    syntax_check(playbook)


@pytest.mark.parametrize('playbook', DOC_PLAYBOOKS, ids=[p.name for p in DOC_PLAYBOOKS])
def test_docsite_playbooks(playbook):
    syntax_check(playbook)


def test_getting_started_guide_shows_the_tested_playbook():
    """The guide embeds the playbook (antsibull-docs copies only .rst files, so a
    literalinclude would not resolve); it must be the file, verbatim."""
    text = GUIDE.read_text(encoding='utf-8')
    blocks = re.findall(r'^\.\. code-block:: yaml\+jinja\n\n((?:(?: {4}.*)?\n)+)', text, re.M)
    shown = [textwrap.dedent(block).strip('\n') + '\n' for block in blocks]
    assert GETTING_STARTED.read_text(encoding='utf-8') in shown, (
        '%s does not show %s as it is: copy the file into its code-block' % (
            GUIDE.relative_to(ROOT), GETTING_STARTED.relative_to(ROOT)))


def readme_examples():
    found = []
    for readme in ROLE_READMES:
        blocks = re.findall(r'^```ya?ml\n(.*?)^```', readme.read_text(encoding='utf-8'),
                            re.M | re.S)
        for index, block in enumerate(blocks):
            found.append(pytest.param(block, id='%s-%d' % (readme.parent.name, index)))
    return found


@pytest.mark.parametrize('block', readme_examples())
def test_role_readme_examples(block, tmp_path):
    data = yaml.safe_load(block)
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        pytest.skip('not a playbook or task list')
    if not any('hosts' in play for play in data):
        data = as_playbook(data, 'README example')
    playbook = tmp_path / 'readme.yml'
    playbook.write_text(yaml.safe_dump(data, sort_keys=False), encoding='utf-8')
    syntax_check(playbook)


def test_syntax_check_rejects_an_unknown_module(tmp_path):
    """The check above would be worthless if a misspelt module passed it."""
    playbook = tmp_path / 'unknown.yml'
    playbook.write_text(yaml.safe_dump(as_playbook(
        [{'name': 'misspelt', 'flinkops.flink.flink_jobb': {'name': 'x'}}], 'unknown')),
        encoding='utf-8')
    with pytest.raises(AssertionError, match='syntax-check failed'):
        syntax_check(playbook)
