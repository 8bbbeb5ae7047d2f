#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: flink_jar
short_description: Upload job JARs to a Flink cluster, once per content, and prune old ones
version_added: 0.1.0
description:
  - Uploads a JAR to a Flink session cluster through the REST API, streamed from disk so memory
    stays flat whatever the JAR size.
  - Idempotent by content. A JAR is uploaded as C(<name>-sha256-<first 16 hex of its sha256>.jar),
    so the same bytes are found again and not uploaded twice, with no state kept outside Flink.
  - Removes uploaded JARs by id, by content or by name, optionally keeping the newest few.
author:
  - Flinkops Contributors (@flinkops)
extends_documentation_fragment:
  - flinkops.flink._connection
  - flinkops.flink._attributes
  - flinkops.flink._attributes.actiongroup
attributes:
  check_mode:
    support: full
    details:
      - In check mode the JAR is hashed and the cluster's JAR list read; nothing is uploaded or deleted.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  state:
    description:
      - V(present) makes sure the JAR is uploaded; V(absent) removes uploads.
    type: str
    choices: [present, absent]
    default: present
  src:
    description:
      - Path of the JAR on the host that runs the module.
      - Checked to be a readable ZIP archive before anything is sent.
    type: path
  src_url:
    description:
      - HTTP or HTTPS URL to download the JAR from (for example an artifact repository).
      - Requires O(src_checksum). If a JAR with that checksum is already uploaded, nothing is downloaded.
    type: str
  src_headers:
    description:
      - Headers for the O(src_url) download, for example an artifact repository token. Never logged or returned.
    type: dict
  src_checksum:
    description:
      - Expected checksum of the JAR as C(sha256:<hex>). With O(src) it is verified too, when given.
      - With O(state=absent), selects the uploads of this content.
    type: str
  src_validate_certs:
    description:
      - Whether to verify the TLS certificate of O(src_url).
    type: bool
    default: true
  name:
    description:
      - Name to upload the JAR under (the part before C(-sha256-)); defaults to the file name of O(src) or O(src_url).
      - With O(state=absent), selects every upload made under this name.
    type: str
  jar_id:
    description:
      - With O(state=absent), the id of one uploaded JAR to remove, as returned by this module or C(GET /jars).
    type: str
  keep:
    description:
      - With O(state=absent) and O(name) or O(src_checksum), keep this many of the newest matching uploads and remove the rest.
    type: int
    default: 0
notes:
  - Deleting an uploaded JAR does not affect jobs already running from it.
  - Uploads whose name does not carry a content hash (made by other tools) are only removed by O(jar_id).
seealso:
  - module: flinkops.flink.flink_job
"""

EXAMPLES = r"""
- name: Upload the job JAR built by CI
  flinkops.flink.flink_jar:
    url: http://flink-jobmanager:8081
    src: target/orders-job-1.4.0.jar
    name: orders-job
  register: jar

- name: Upload from an artifact repository, verified by checksum
  flinkops.flink.flink_jar:
    url: http://flink-jobmanager:8081
    src_url: https://repo.example.com/releases/orders-job-1.4.0.jar
    src_checksum: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    src_headers:
      Authorization: "Bearer {{ repo_token }}"
    name: orders-job

- name: Keep only the three newest uploads of the job
  flinkops.flink.flink_jar:
    url: http://flink-jobmanager:8081
    name: orders-job
    state: absent
    keep: 3
"""

RETURN = r"""
jar_id:
  description: Id of the uploaded JAR (use it with M(flinkops.flink.flink_job)). V(null) in check mode when an upload would be needed.
  returned: state=present
  type: str
  sample: 4b6e0d6e-5a7c-4d38-9f5b-0a6f1d3e8c21_orders-job-sha256-9f86d081884c7d65.jar
sha256:
  description: SHA-256 of the JAR content.
  returned: state=present
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
name:
  description: The file name the JAR is uploaded under.
  returned: state=present
  type: str
  sample: orders-job-sha256-9f86d081884c7d65.jar
stem:
  description:
    - The name part of RV(name) before its content hash; uploads of other versions of this JAR share it.
    - Pass it as O(name) with O(state=absent) and O(keep) to prune old uploads.
  returned: state=present
  type: str
  sample: orders-job
size:
  description: Size of the JAR in bytes.
  returned: state=present
  type: int
  sample: 48213
removed:
  description: Ids of the uploads removed (or that would be removed in check mode).
  returned: state=absent
  type: list
  elements: str
  sample: [3c1d..._orders-job-sha256-0123456789abcdef.jar]
actions:
  description: What the module did, or would do in check mode.
  returned: always
  type: list
  elements: str
  sample: [upload target/orders-job-1.4.0.jar as orders-job-sha256-9f86d081884c7d65.jar]
"""

import os
import shutil
import tempfile

from ansible_collections.flinkops.flink.plugins.module_utils._client import download
from ansible_collections.flinkops.flink.plugins.module_utils._module import FlinkModule
from ansible_collections.flinkops.flink.plugins.module_utils._rest import delete_jar, list_jars
from ansible_collections.flinkops.flink.plugins.module_utils._store import (
    ensure_jar,
    jar_stem,
    jar_upload_name,
    jars_named,
    jars_with_sha,
    local_jar,
    stem_of,
)


def expected_sha256(module):
    checksum = module.params["src_checksum"]
    if not checksum:
        return None
    algorithm, _sep, value = checksum.partition(":")
    if algorithm.lower() != "sha256" or len(value) != 64:
        module.fail("src_checksum must look like sha256:<64 hex characters>, got %r" % checksum)
    return value.lower()


def present(module):
    params = module.params
    wanted = expected_sha256(module)
    source = params["src"] or params["src_url"]
    stem = jar_stem(params["name"] or source.rsplit("/", 1)[-1].split("?")[0])
    jars = list_jars(module.client)
    if params["src_url"] and jars_with_sha(jars, wanted):
        # Already uploaded: no need to download it again.
        found = jars_with_sha(jars, wanted)[0]
        module.exit(jar_id=found["id"], sha256=wanted, name=found["name"],
                    stem=stem_of(found["name"]), size=None)
    workdir = tempfile.mkdtemp(prefix="flinkops-jar-")
    try:
        path = params["src"]
        if params["src_url"]:
            path = os.path.join(workdir, stem + ".jar")
            download(params["src_url"], path, params["src_headers"],
                     params["src_validate_certs"], params["request_timeout"])
        sha256 = local_jar(path)
        if wanted and sha256 != wanted:
            module.fail("checksum mismatch for %s: expected sha256:%s, got sha256:%s; "
                        "nothing was uploaded" % (source, wanted, sha256))
        jar_id, uploaded = ensure_jar(module.client, path, sha256, stem, jars, module.change)
        size = os.path.getsize(path)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    name = jar_id.split("_", 1)[1] if jar_id else jar_upload_name(stem, sha256)
    diff = {"before": {"uploaded": not uploaded}, "after": {"uploaded": True, "name": name}}
    module.exit(jar_id=jar_id, sha256=sha256, name=name, stem=stem_of(name), size=size,
                diff=diff)


def absent(module):
    params = module.params
    jars = list_jars(module.client)
    if params["jar_id"]:
        doomed = [jar for jar in jars if jar["id"] == params["jar_id"]]
    else:
        wanted = expected_sha256(module)
        if params["src"] and not wanted:
            wanted = local_jar(params["src"])
        if wanted:
            matching = jars_with_sha(jars, wanted)
        else:
            matching = jars_named(jars, jar_stem(params["name"]))
        doomed = matching[params["keep"]:]
    for jar in doomed:
        module.change("delete %s" % jar["id"], delete_jar, module.client, jar["id"])
    module.exit(removed=[jar["id"] for jar in doomed],
                diff={"before": {"jars": [jar["id"] for jar in doomed]}, "after": {"jars": []}})


def main():
    module = FlinkModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            src=dict(type="path"),
            src_url=dict(type="str"),
            src_headers=dict(type="dict", no_log=True),
            src_checksum=dict(type="str"),
            src_validate_certs=dict(type="bool", default=True),
            name=dict(type="str"),
            jar_id=dict(type="str"),
            keep=dict(type="int", default=0),
        ),
        mutually_exclusive=[("src", "src_url"), ("jar_id", "src"), ("jar_id", "src_url"),
                            ("jar_id", "name")],
        required_if=[("state", "present", ("src", "src_url"), True),
                     ("state", "absent", ("jar_id", "name", "src", "src_checksum"), True)],
        required_by={"src_url": "src_checksum"},
    )
    if module.params["keep"] < 0:
        module.fail("keep must be 0 or more, got %d" % module.params["keep"])
    if module.params["src_url"] and not module.params["src_url"].startswith(("http://", "https://")):
        module.fail("src_url must be an http:// or https:// URL, got %r" % module.params["src_url"])
    module.run(present if module.params["state"] == "present" else absent)


if __name__ == "__main__":
    main()
