# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Part 3 of `make bench`: uploading a big JAR, flink_jar against curl."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile

from lab import ROOT, WORK, log


def make_big_jar(lab, path, size_mb):
    """The v1 JAR plus one large stored (uncompressed) entry: a valid JAR of ~size_mb MiB."""
    target = size_mb * 1024 * 1024
    with zipfile.ZipFile(lab.jar("v1")) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            out.writestr(info, src.read(info))
        pad = zipfile.ZipInfo("flinkops-bench/padding.bin", (2020, 1, 1, 0, 0, 0))
        pad.compress_type = zipfile.ZIP_STORED
        block = os.urandom(8 << 20)
        remaining = target - os.path.getsize(lab.jar("v1")) - 4096
        with out.open(pad, "w", force_zip64=True) as handle:
            while remaining > 0:
                chunk = block[:min(len(block), remaining)]
                handle.write(chunk)
                remaining -= len(chunk)
    return path


def module_cmd(name):
    return [sys.executable, "-m", "ansible_collections.flinkops.flink.plugins.modules." + name]


def run_module(name, params):
    """The module in its own process (as Ansible runs it); returns (wall, max RSS KiB, result)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "build") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    rss_file = WORK / "rss.txt"
    started = time.monotonic()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(rss_file)] + module_cmd(name),
                          input=json.dumps({"ANSIBLE_MODULE_ARGS": params}), capture_output=True,
                          text=True, env=env, timeout=1800, check=False)
    wall = time.monotonic() - started
    result = json.loads(proc.stdout)
    if proc.returncode != 0 or result.get("failed"):
        raise RuntimeError("%s failed: %s %s" % (name, proc.stdout[-3000:], proc.stderr[-2000:]))
    return wall, int(rss_file.read_text().split()[-1]), result


def curl_upload(lab, path):
    """curl -F to cluster A's /jars/upload; returns (wall, max RSS KiB, jar id)."""
    rss_file = WORK / "rss.txt"
    started = time.monotonic()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(rss_file), "curl", "-sS", "--fail",
                           "-F", "jarfile=@%s;type=application/x-java-archive" % path,
                           lab.cluster_a.url + "/jars/upload"],
                          capture_output=True, text=True, timeout=1800, check=False)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError("curl failed: %s %s" % (proc.stdout[-2000:], proc.stderr[-2000:]))
    jar_id = json.loads(proc.stdout)["filename"].rsplit("/", 1)[-1]
    return wall, int(rss_file.read_text().split()[-1]), jar_id


def run(lab):
    """A big JAR uploaded by curl and by flink_jar, taking turns: throughput, memory, hashing."""
    reps = lab.args.upload_n
    log("upload: building a %d MiB JAR" % lab.args.upload_mb)
    big = make_big_jar(lab, WORK / "bench-big.jar", lab.args.upload_mb)
    small = make_big_jar(lab, WORK / "bench-small.jar", 4)
    size_mb = os.path.getsize(big) / 1e6
    # PYTHONPATH=build (make bench): the collection's own hashing function
    from ansible_collections.flinkops.flink.plugins.module_utils._spec import sha256_file  # pylint: disable=import-outside-toplevel
    out = {"size_bytes": os.path.getsize(big), "curl": [], "module": [], "module_noop": [],
           "hash_s": [], "small_module": []}
    params = {"url": lab.cluster_a.url, "src": str(big), "name": "bench-big"}
    for _rep in range(reps):
        wall, rss, jar_id = curl_upload(lab, big)
        out["curl"].append({"wall_s": wall, "rss_kib": rss})
        lab.rest.call("DELETE", "/jars/%s" % jar_id)
        wall, rss, result = run_module("flink_jar", params)
        out["module"].append({"wall_s": wall, "rss_kib": rss, "changed": result.get("changed")})
        # the same JAR again, already uploaded: module start + hashing + GET /jars, no upload
        wall, rss, again = run_module("flink_jar", params)
        out["module_noop"].append({"wall_s": wall, "rss_kib": rss, "changed": again.get("changed")})
        lab.rest.call("DELETE", "/jars/%s" % result["jar_id"])
        started = time.monotonic()
        sha256_file(str(big))
        out["hash_s"].append(time.monotonic() - started)
        log("upload: curl %.2fs, flink_jar %.2fs (RSS %d KiB), flink_jar no-op %.2fs, hash %.2fs" % (
            out["curl"][-1]["wall_s"], out["module"][-1]["wall_s"], out["module"][-1]["rss_kib"],
            out["module_noop"][-1]["wall_s"], out["hash_s"][-1]))
    _wall, rss, result = run_module("flink_jar", {"url": lab.cluster_a.url, "src": str(small),
                                                  "name": "bench-small"})
    out["small_module"].append({"size_bytes": os.path.getsize(small), "rss_kib": rss})
    lab.rest.call("DELETE", "/jars/%s" % result["jar_id"])
    leftovers = [j["id"] for j in lab.rest.call("GET", "/jars")["files"] if j["name"].startswith("bench-")]
    for jar_id in leftovers:
        lab.rest.call("DELETE", "/jars/%s" % jar_id)
    big.unlink()
    small.unlink()
    out["size_mb"] = size_mb
    lab.results["upload"] = out
