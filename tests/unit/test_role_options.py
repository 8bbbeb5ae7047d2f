# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The roles reach every option of the modules they run, documented as the modules document them.

job_deploy passes each flink_job option as the variable ``job_deploy_<option>`` (one list in
vars/main.yml, turned into the flink_job tasks' module_defaults). A new module option, a type,
choices or default changed on one side only, or an option the list forgets fails here. The
cluster roles pass what fits a whole cluster; every variable they hand a module is documented
with the module's type and choices.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from ansible_collections.flinkops.flink.plugins.module_utils._module import connection_argument_spec
from ansible_collections.flinkops.flink.plugins.modules import flink_job, flink_job_info, flink_savepoint

ROLES = Path(__file__).resolve().parents[2] / "roles"
JOB_DEPLOY = ROLES / "job_deploy"
MODULE = re.compile(r"^(?:flinkops\.flink\.)(flink_\w+)$")

# flink_job options the role handles itself rather than as job_deploy_<option>.
ROLE_HANDLED = {
    "jar": "job_deploy_jar (the path resolved against the directory ansible-playbook runs in)",
    "jar_name": "job_deploy_jar_name (also the name of the staged upload)",
    "jar_id": "the id of the upload the role stages before anything stops",
    "state": "the role deploys; a stop is flink_job state=stopped or the cluster_drain role",
    "stop_mode": "only with state=stopped, which the role never sets",
    "version": "not in the role yet: the role stages a JAR it is given before anything stops (see vars/main.yml)",
}
# Where the role's default differs from the module's, on purpose (documented as such).
ROLE_DEFAULTS = {"health_window": 30, "health_require_checkpoint": True}
# flink_job options a flink_job task of the role may set itself, over module_defaults.
TASK_OVERRIDES = {"jar", "jar_name", "jar_id", "state_check"}

# flink_savepoint: the role disposes of old savepoints with it, and takes savepoints through
# flink_job; each flink_savepoint option is reached through the role variable named here, or
# set by the role, or not the role's business (with why).
SAVEPOINT_REACHED = {
    "name": "job_deploy_name",
    "savepoint_dir": "job_deploy_savepoint_dir",
    "savepoint_format": "job_deploy_savepoint_format",
    "drain": "job_deploy_drain",
    "wait_timeout": "job_deploy_savepoint_timeout",
    "keep": "job_deploy_keep_savepoints",
}
SAVEPOINT_SET_BY_ROLE = {
    "state": "absent: housekeeping disposes of savepoints",
    "path": "each savepoint beyond job_deploy_keep_savepoints",
    "wait": "the role waits for each disposal (the defaults' true)",
}
SAVEPOINT_NOT_THE_ROLES = {
    "job_id": "the role takes savepoints with flink_job (stop with savepoint), not flink_savepoint",
    "job_ids": "idem; several jobs at once is cluster_drain's",
    "stop": "idem",
    "max_age": "idem (scheduled backups)",
}


def argument_spec_of(module, monkeypatch):
    """The argument spec a module builds its FlinkModule with (its ARGUMENT_SPEC if it has
    one, else what main() passes)."""
    if hasattr(module, "ARGUMENT_SPEC"):
        return module.ARGUMENT_SPEC

    class Built(Exception):
        pass

    def capture(**kwargs):
        raise Built(kwargs["argument_spec"])

    monkeypatch.setattr(module, "FlinkModule", capture)
    with pytest.raises(Built) as built:
        module.main()
    return built.value.args[0]


def load(path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def role_options(role):
    return load(ROLES / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]


def tasks_of(path, inherited=None):
    """Every task of a task file (blocks unrolled), with the module_defaults it runs with."""
    for task in load(path) or []:
        defaults = dict(inherited or {})
        defaults.update(task.get("module_defaults") or {})
        for section in ("block", "rescue", "always"):
            if section in task:
                yield from tasks_from(task[section], defaults)
        if not any(section in task for section in ("block", "rescue", "always")):
            yield task, defaults


def tasks_from(tasks, inherited):
    for task in tasks:
        defaults = dict(inherited)
        defaults.update(task.get("module_defaults") or {})
        if "block" in task:
            yield from tasks_from(task["block"] + task.get("rescue", []) + task.get("always", []),
                                  defaults)
        else:
            yield task, defaults


def module_calls(task):
    for key, args in task.items():
        match = MODULE.match(key)
        if match:
            yield match.group(1), args or {}


def same_doc(module_option, role_option, default=None):
    """What differs between a module option and the role variable documenting it."""
    differences = []
    for field in ("type", "elements", "choices"):
        expected = module_option.get(field)
        if field == "type" and expected == "path":
            expected = "str"  # a role variable is a str, the module expands it
        if expected != role_option.get(field):
            differences.append("%s %r (the module's) != %r" % (field, expected, role_option.get(field)))
    if module_option.get("required", False) != role_option.get("required", False):
        differences.append("required differs")
    if default is not None:
        expected = default
    else:
        expected = module_option.get("default")
    if expected != role_option.get("default"):
        differences.append("default %r != %r" % (expected, role_option.get("default")))
    return differences


@pytest.fixture(scope="module")
def passed_options():
    vars_main = load(JOB_DEPLOY / "vars" / "main.yml")
    return vars_main["_job_deploy_job_options"]


def test_every_flink_job_option_is_a_job_deploy_variable(passed_options):
    connection = set(connection_argument_spec())
    expected = set(flink_job.ARGUMENT_SPEC) - connection - set(ROLE_HANDLED)
    assert sorted(set(passed_options)) == sorted(passed_options), "listed twice"
    assert set(passed_options) == expected, (
        "vars/main.yml _job_deploy_job_options misses %s and has %s that flink_job does not have"
        % (sorted(expected - set(passed_options)), sorted(set(passed_options) - expected)))
    assert set(ROLE_HANDLED) <= set(flink_job.ARGUMENT_SPEC), "a stale ROLE_HANDLED entry"


def test_each_passed_option_is_documented_as_the_module_documents_it(passed_options):
    documented = role_options("job_deploy")
    problems = {}
    for option in passed_options:
        variable = "job_deploy_" + option
        if variable not in documented:
            problems[variable] = ["not in meta/argument_specs.yml"]
            continue
        found = same_doc(flink_job.ARGUMENT_SPEC[option], documented[variable],
                         ROLE_DEFAULTS.get(option))
        if found:
            problems[variable] = found
    assert not problems, problems
    for option, default in ROLE_DEFAULTS.items():
        assert flink_job.ARGUMENT_SPEC[option].get("default") != default, \
            "%s: the role's default is the module's now; drop it from ROLE_DEFAULTS" % option
        assert "differs from the module" in " ".join(documented["job_deploy_" + option]["description"])


def test_role_defaults_are_the_documented_ones(passed_options):
    """defaults/main.yml sets a passed option only to its documented default, and sets every
    one whose default is the role's own (else the module's would apply)."""
    defaults = load(JOB_DEPLOY / "defaults" / "main.yml")
    documented = role_options("job_deploy")
    for option in passed_options:
        variable = "job_deploy_" + option
        if variable in defaults:
            assert defaults[variable] == documented[variable].get("default"), variable
        if option in ROLE_DEFAULTS:
            assert defaults.get(variable) == ROLE_DEFAULTS[option], variable
    # Every documented default is what the role really has (defaults/main.yml), or, for a
    # passed option the role leaves unset, what the module has.
    for variable, spec in documented.items():
        if "default" not in spec or spec["default"] is None:
            assert defaults.get(variable) is None, "%s: set in defaults/main.yml, undocumented" % variable
            continue
        option = variable[len("job_deploy_"):]
        if variable not in defaults:
            assert option in passed_options and \
                flink_job.ARGUMENT_SPEC[option].get("default") == spec["default"], variable


def test_flink_job_tasks_take_the_options_from_module_defaults():
    calls = 0
    for task, defaults in tasks_of(JOB_DEPLOY / "tasks" / "main.yml"):
        for module, args in module_calls(task):
            if module != "flink_job":
                continue
            calls += 1
            assert defaults.get("flinkops.flink.flink_job") == "{{ _job_deploy_spec }}", task["name"]
            assert defaults.get("group/flinkops.flink.flink") == "{{ job_deploy_connection }}", task["name"]
            assert set(args) <= TASK_OVERRIDES, (task["name"], sorted(set(args) - TASK_OVERRIDES))
    assert calls == 3  # the check, the state pre-check, the deployment


def test_spec_template_reads_the_listed_variables():
    text = (JOB_DEPLOY / "vars" / "main.yml").read_text(encoding="utf-8")
    spec = load(JOB_DEPLOY / "vars" / "main.yml")["_job_deploy_spec"]
    assert "_job_deploy_job_option_vars" in spec and "_job_deploy_job_options" in text
    names = load(JOB_DEPLOY / "vars" / "main.yml")["_job_deploy_job_option_vars"]
    assert "varnames" in names and "'^job_deploy_('" in names


def test_connection_options_are_the_roles_connection_variables():
    documented = role_options("job_deploy")
    template = load(JOB_DEPLOY / "vars" / "main.yml")["job_deploy_connection"]
    mapped = dict(re.findall(r"'(\w+)': job_deploy_(\w+)", template))
    for option in connection_argument_spec():
        assert mapped.get(option) == option, "job_deploy_connection does not pass %s" % option
        assert "job_deploy_" + option in documented, option
    # The role's own reads of the job's runs match names as the deployment does.
    for task, _defaults in tasks_of(JOB_DEPLOY / "tasks" / "main.yml"):
        for module, args in module_calls(task):
            if module == "flink_job_info":
                assert "name_match" in args and "name_match" in flink_job_info_options(), task["name"]


def flink_job_info_options():
    source = Path(flink_job_info.__file__).read_text(encoding="utf-8")
    return set(re.findall(r"^\s+(\w+)=dict\(", source, re.M))


def test_every_flink_savepoint_option_is_reached_or_set_by_the_role(monkeypatch):
    spec = argument_spec_of(flink_savepoint, monkeypatch)
    accounted = set(SAVEPOINT_REACHED) | set(SAVEPOINT_SET_BY_ROLE) | set(SAVEPOINT_NOT_THE_ROLES)
    own = set(spec) - set(connection_argument_spec())
    assert own <= accounted, "flink_savepoint options the role does not account for: %s" % sorted(
        own - accounted)
    documented = role_options("job_deploy")
    for option, variable in SAVEPOINT_REACHED.items():
        if option not in spec:
            continue  # an option another branch adds (keep)
        module_option = spec[option]
        assert documented[variable]["type"] == module_option["type"], variable
        assert documented[variable].get("choices") == module_option.get("choices"), variable
    disposals = [args for task, _defaults in tasks_of(JOB_DEPLOY / "tasks" / "main.yml")
                 for module, args in module_calls(task) if module == "flink_savepoint"]
    assert disposals and all(args.get("state") == "absent" and
                             args.get("wait_timeout") == "{{ job_deploy_savepoint_timeout }}"
                             for args in disposals), disposals


def role_variable(value, role):
    """The role variable a task argument is, when it is one (possibly with a fallback)."""
    match = re.match(r"^\{\{ (%s_\w+)(?: \| default\(omit(?:, true)?\)| or omit)? \}\}$" % role,
                     str(value))
    return match.group(1) if match else None


@pytest.mark.parametrize("role,task_file,module", [
    ("cluster_drain", "stop_batch.yml", flink_savepoint),
    ("cluster_restore", "start_batch.yml", flink_job),
])
def test_cluster_roles_document_what_they_pass_as_the_module_does(role, task_file, module, monkeypatch):
    """The cluster roles pass what fits every job of a cluster; each variable they give a
    module option is documented with that option's type and choices."""
    spec = argument_spec_of(module, monkeypatch)
    aliases = dict((alias, option) for option, o in spec.items() for alias in o.get("aliases", ()))
    documented = role_options(role)
    checked = 0
    for task, _defaults in tasks_of(ROLES / role / "tasks" / task_file):
        for _module, args in module_calls(task):
            for option, value in args.items():
                assert option not in aliases, "%s: use %s, not its old name %s" % (
                    role, aliases[option], option)
                variable = role_variable(value, role)
                if variable is None:
                    continue
                checked += 1
                module_option = spec[option]
                found = same_doc(module_option, documented[variable], documented[variable].get("default"))
                assert not found, (variable, found)
    assert checked >= 3
