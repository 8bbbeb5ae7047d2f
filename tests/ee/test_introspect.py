# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""meta/execution-environment.yml tells the truth, and the EE definition renders."""

from __future__ import annotations

import ast
import re
import sys

import yaml

from conftest import BUILD, COLLECTION, EE_DEFINITION, ROOT, ee_definition, introspect, run, tool

# Import name -> PyPI distribution, for every third-party module plugins/ may import.
DISTRIBUTIONS = {"requests": "requests", "boto3": "boto3", "botocore": "botocore",
                 "kazoo": "kazoo", "psycopg": "psycopg"}
# Provided by ansible-core itself (and its own dependencies are its business).
ANSIBLE_PROVIDED = {"ansible", "ansible_collections", "__future__"}


def requirement_name(line):
    """'requests>=2  # from collection x' -> 'requests' (normalised)."""
    line = line.split("#", 1)[0].strip()
    name = re.match(r"[A-Za-z0-9._-]+", line).group(0)
    return re.sub(r"[-_.]+", "-", name).lower()


def third_party_imports():
    """Top-level names imported anywhere in plugins/ (also inside try/except and functions)."""
    found = {}
    for path in sorted((COLLECTION / "plugins").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in ANSIBLE_PROVIDED and top not in sys.stdlib_module_names:
                    found.setdefault(top, []).append(str(path.relative_to(COLLECTION)))
    return found


def test_introspected_python_requirements_equal_the_plugins_imports():
    imports = third_party_imports()
    unknown = sorted(set(imports) - set(DISTRIBUTIONS))
    assert not unknown, ("plugins/ import %s: add them to DISTRIBUTIONS here and to "
                         "meta/ee-requirements.txt" % {name: imports[name] for name in unknown})
    expected = sorted(DISTRIBUTIONS[name] for name in imports)
    # What the modules need today: requests (module_utils/_client.py) and the state stores'
    # clients (module_utils/_records/: _s3, _zookeeper, _postgresql).
    assert expected == ["boto3", "botocore", "kazoo", "psycopg", "requests"]

    data = introspect()
    assert sorted(requirement_name(line) for line in data["python"]) == expected
    assert all("from collection flinkops.flink" in line for line in data["python"])
    # No caps in the collection's requirements: the EE (or the user) pins.
    assert all(not re.search(r"[<>=!~]", line.split("#")[0]) for line in data["python"])


def test_system_requirements_are_empty_and_the_bindep_file_parses():
    meta = yaml.safe_load((ROOT / "meta" / "execution-environment.yml").read_text())
    assert meta["dependencies"] == {"python": "meta/ee-requirements.txt",
                                    "system": "meta/ee-bindep.txt"}
    for name in meta["dependencies"].values():
        assert (COLLECTION / name).is_file(), name
    assert introspect()["system"] == []
    proc = run([tool("bindep"), "--file", COLLECTION / "meta" / "ee-bindep.txt", "--list_all",
                "newline"])
    assert proc.returncode == 0 and proc.stdout.strip() == "", proc.stdout + proc.stderr


def pinned(requirements_file, name):
    for line in (ROOT / "requirements" / requirements_file).read_text().splitlines():
        if line.startswith(name + "=="):
            return line.strip()
    raise AssertionError("%s is not pinned in requirements/%s" % (name, requirements_file))


def test_ee_definition_pins_what_the_project_tests():
    definition = ee_definition()
    assert definition["version"] == 3
    deps = definition["dependencies"]
    assert deps["ansible_core"]["package_pip"] == pinned("ansible-2.21.txt", "ansible-core")
    assert deps["ansible_runner"]["package_pip"] == pinned("ee.txt", "ansible-runner")
    assert deps["python_interpreter"]["python_path"].endswith("python3.13")
    assert str(definition["options"]["user"]) != "0"
    # Python and system dependencies come from the collection's own metadata.
    assert "python" not in deps and "system" not in deps


def test_ee_context_renders_non_root_with_the_collection(collection_tarball, tmp_path):
    context = tmp_path / "context"
    proc = run([tool("ansible-builder"), "create", "--file", EE_DEFINITION, "--context", context,
                "--output-filename", "Containerfile"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    containerfile = (context / "Containerfile").read_text()
    lines = [line.strip() for line in containerfile.splitlines() if line.strip()]
    # The last USER is non-root and comes after the clean-up that needs root.
    users = [i for i, line in enumerate(lines) if line.startswith("USER ")]
    assert lines[users[-1]] == "USER 1000"
    assert users[-1] > lines.index("RUN rm -rf /output")
    assert "ansible-galaxy collection install" in containerfile
    assert (context / "_build" / "collections" / collection_tarball.name).is_file()
    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert galaxy["collections"] == [{"name": "collections/" + collection_tarball.name,
                                      "type": "file"}]
    # ansible-builder found the tarball where `make ee-context` puts it.
    assert collection_tarball.parent.parent == BUILD
