# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Find the failure messages the code composes, for tests/unit/test_messages.py.

Read from the source (ast), not from a list kept by hand, so that a new message cannot be
missed: a template is the literal text of a message with ``%s`` where values go.
"""

from __future__ import annotations

import ast
import os
import re

import yaml

ERROR_CLASSES = frozenset({"FlinkError", "FlinkTimeout", "DeployFailure", "OperationFailed", "SecretMismatch",
                           "StateCheckRefused", "NoRollback", "Superseded", "Replan", "DeploymentInProgress"})
# Variables a message is composed in before it is raised or returned.
MESSAGE_VARIABLES = {"msg", "message", "problem", "refusal", "reason"}
# Lists of option problems (the first one fails the module).
PROBLEM_LISTS = {"found", "problems"}


def _function_composes(name):
    """Functions whose returned strings are messages (composed for a caller that raises them)."""
    return name.startswith("_compose") or name in ("describe_transport_error", "_verify_failure") or \
        name.endswith("_error") or name.endswith("_problem")


def template(node):
    """The literal text of a message expression, ``%s`` for every value; None if there is none."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return template(node.left)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = template(node.left), template(node.right)
        return None if left is None and right is None else (left or "%s") + (right or "%s")
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "%s" for v in node.values)
    if isinstance(node, ast.IfExp):
        return template(node.body) or template(node.orelse)
    return None


def _tuple_templates(node):
    """Every message of a (expression, ...) pair returned by describe_transport_error."""
    if isinstance(node, ast.Tuple):
        return [template(node.elts[0])]
    return [template(node)]


def _called(func):
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)


def _raises_message(node, error_classes):
    """The first argument of an error built or a failure reported by the call ``node``."""
    name = _called(node.func)
    if name == "DeployFailure":
        return None  # its first argument is the stage; its message is _compose's
    if name in error_classes or name == "fail" or \
            (name == "error" and isinstance(node.func, ast.Attribute)):  # client.error(msg)
        return node.args[0] if node.args else None
    if name == "fail_json":
        return next((k.value for k in node.keywords if k.arg == "msg"), None)
    return None


def error_classes(paths):
    """FlinkError and every class of ``paths`` derived from it (StoreError ...)."""
    known = set(ERROR_CLASSES)
    trees = [ast.parse(open(path, encoding="utf-8").read()) for path in paths]
    grown = True
    while grown:
        grown = False
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.name not in known and \
                        any(_called(base) in known for base in node.bases):
                    known.add(node.name)
                    grown = True
    return known


def composers(paths, classes):
    """Functions whose result becomes an error's message, in any of ``paths``: called inside
    the error (FlinkError(self.why(...))), assigned to a name an error is then built from
    (refusal, warning = verdict(...); raise FlinkError(refusal)), or given as on_failure."""
    found = set()
    for path in paths:
        for function in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            raised_names, calls_into = set(), {}
            for node in ast.walk(function):
                if isinstance(node, ast.Call):
                    arg = _raises_message(node, classes)
                    if isinstance(arg, ast.Call):
                        found.add(_called(arg.func))
                    elif isinstance(arg, ast.Name):
                        raised_names.add(arg.id)
                    found.update(k.value.id for k in node.keywords
                                 if k.arg == "on_failure" and isinstance(k.value, ast.Name))
                elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                    for target in node.targets:
                        names = target.elts if isinstance(target, ast.Tuple) else [target]
                        for name in names:
                            if isinstance(name, ast.Name):
                                calls_into.setdefault(name.id, set()).add(_called(node.value.func))
            for name in raised_names:
                found.update(calls_into.get(name, ()))
    found.discard(None)
    return found


def python_templates(path, classes=ERROR_CLASSES, composer_names=frozenset()):
    """[(line, template)] of every failure message composed in the file at ``path``: built
    into an error of ``classes`` or reported as a failure, composed in a message variable, or
    returned by one of ``composer_names`` (functions whose result an error is built from)."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    found = []
    composers = set(composer_names)  # pylint: disable=redefined-outer-name

    def visit(node, function):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function = node.name
        if isinstance(node, ast.Call):
            func = node.func
            arg = _raises_message(node, classes)
            if arg is None and _called(func) == "append" and isinstance(func, ast.Attribute) and \
                    isinstance(func.value, ast.Name) and func.value.id in PROBLEM_LISTS:
                arg = node.args[0] if node.args else None
            text = template(arg) if arg is not None else None
            if text and re.search(r"[A-Za-z]{3}", text):
                found.append((node.lineno, text))
        elif isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any((isinstance(t, ast.Name) and (t.id in MESSAGE_VARIABLES or function in composers))
                   or (isinstance(t, ast.Attribute) and t.attr in MESSAGE_VARIABLES) for t in targets):
                text = template(node.value)
                if text and re.search(r"[A-Za-z]{3}", text) and " " in text:
                    found.append((node.lineno, text))
        elif isinstance(node, ast.Return) and function and \
                (_function_composes(function) or function in composers) \
                and node.value is not None:
            for text in _tuple_templates(node.value):
                if text and " " in text:
                    found.append((node.lineno, text))
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, None)
    return found


def role_messages(role_dir):
    """[(task file, task name, message)] of every fail/assert task of a role."""
    found = []
    tasks_dir = os.path.join(role_dir, "tasks")
    for name in sorted(os.listdir(tasks_dir)):
        with open(os.path.join(tasks_dir, name), encoding="utf-8") as handle:
            tasks = yaml.safe_load(handle) or []
        stack = list(tasks)
        while stack:
            task = stack.pop(0)
            for key in ("block", "rescue", "always"):
                stack.extend(task.get(key) or [])
            for action, field in (("ansible.builtin.assert", "fail_msg"), ("ansible.builtin.fail", "msg")):
                if action in task:
                    found.append((name, task["name"], " ".join(str(task[action][field]).split())))
    return found


_IMPORT_PREFIX = "ansible_collections.flinkops.flink.plugins.module_utils."


def module_closure(root, modules):
    """The files of ``modules`` (plugins/modules names) and every module_utils file they import,
    directly or through others: where their failure messages can come from."""
    todo = [os.path.join(root, "plugins", "modules", name + ".py") for name in modules]
    seen = []
    while todo:
        path = todo.pop()
        if path in seen or not os.path.isfile(path):
            continue
        seen.append(path)
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(_IMPORT_PREFIX):
                rest = node.module[len(_IMPORT_PREFIX):].split(".")
                base = os.path.join(root, "plugins", "module_utils", *rest)
                todo.append(base + ".py")
                todo.append(os.path.join(base, "__init__.py"))
                # "from ..module_utils._records import _s3": the names may be modules too.
                todo.extend(os.path.join(base, alias.name + ".py") for alias in node.names)
    return sorted(seen)


def doc_headings(rst_path):
    """Every message the troubleshooting page explains: the ``literal`` that starts an entry."""
    headings = []
    for line in open(rst_path, encoding="utf-8").read().splitlines():
        text = line[len("Warning "):] if line.startswith("Warning ``") else line
        if text.startswith("``"):
            headings.extend(part for i, part in enumerate(text.split("``")) if i % 2 == 1)
    return headings


def heading_pattern(heading):
    """A regular expression matching the messages a heading stands for: ``<...>`` is any
    value, ``...`` any text."""
    out, i = [], 0
    while i < len(heading):
        if heading.startswith(" ...", i) or heading.startswith("...", i):
            out.append(".*?")  # the space before an ellipsis may be a colon in the message
            i += 4 if heading[i] == " " else 3
        elif heading[i] == "<" and ">" in heading[i:]:
            out.append(".+?")
            i = heading.index(">", i) + 1
        elif heading[i] == "'":
            out.append("['\"]?")  # %r quotes a value the page writes as '<value>'
            i += 1
        else:
            out.append(re.escape(heading[i]))
            i += 1
    return "".join(out)
