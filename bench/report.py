# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docs/benchmarks.md and docs/benchmarks-downtime.png from bench/run.py's results."""

from __future__ import annotations

import collections
import re
import statistics
from pathlib import Path

METHODS = ("floor", "cli", "flink_job", "flink_job_check_off", "role")
LABELS = {
    "floor": "floor (raw REST, 20 ms polls)",
    "cli": "Flink CLI (flink stop + flink run -d)",
    "flink_job": "flink_job (one task, ansible-playbook)",
    "flink_job_check_off": "flink_job with `state_check: off` (no pre-check)",
    "role": "job_deploy role (ansible-playbook flinkops.flink.deploy)",
}
SHORT = {"floor": "floor", "cli": "Flink CLI", "flink_job": "flink_job", "flink_job_check_off": "flink_job,\ncheck off",
         "role": "role"}
PNG = "benchmarks-downtime.png"
ID_RE = re.compile(r"[0-9a-f]{32}")
STOP_RE = re.compile(r"^/jobs/[0-9a-f]{32}/stop$")
JAR_ID_RE = re.compile(r"/jars/[^/]+\.jar")
NUMBER_RE = re.compile(r"/\d+(?=/|$)")


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def spread(values, fmt="%.0f"):
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    text = (fmt + " (" + fmt + "–" + fmt + ")") % (statistics.median(values), min(values), max(values))
    if len(values) >= 4:
        q1, _q2, q3 = statistics.quantiles(values, n=4)
        text += (", IQR " + fmt + "–" + fmt) % (q1, q3)
    return text


def ratio(a, b):
    return a / b if a is not None and b else None


def fx(value, digits=2):
    return "n/a" if value is None else ("%." + str(digits) + "fx") % value


def verdict(ok):
    return "**PASS**" if ok else "**MISS**"


def methods_measured(results):
    """The methods of METHODS that results.json has updates of (older runs lack some)."""
    return [m for m in METHODS if any(r["method"] == m for r in results["downtime"])]


def by_method(results, key):
    return dict((m, [r[key] for r in results["downtime"] if r["method"] == m]) for m in methods_measured(results))


# --------------------------------------------------------------------------- plot


def plot(results, path):
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
    import matplotlib.ticker  # pylint: disable=import-outside-toplevel,unused-import

    panels = (("records_stopped_ms", "records stopped (heartbeat gap), s"),
              ("running_gap_ms", "no job all-tasks-RUNNING (20 ms polls), s"),
              ("wall_s", "total wall time of the method, s"))
    methods = methods_measured(results)
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.2))
    for ax, (key, title) in zip(axes, panels):
        data = by_method(results, key)
        scale = 1.0 if key == "wall_s" else 1000.0
        values = [[v / scale for v in data[m]] for m in methods]
        ax.boxplot(values, showfliers=False, widths=0.5)
        for i, vals in enumerate(values, start=1):
            xs = [i + (j - (len(vals) - 1) / 2) * 0.05 for j in range(len(vals))]
            ax.scatter(xs, vals, s=22, alpha=0.8, zorder=3)
            if vals:
                ax.annotate("%.2f" % statistics.median(vals), (i + 0.28, statistics.median(vals)), fontsize=9,
                            va="center")
        ax.set_xticks(range(1, len(methods) + 1))
        ax.set_xticklabels([SHORT[m] for m in methods])
        ax.set_title(title + " (log scale)", fontsize=11)
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _pos: "%g" % v))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.grid(axis="y", alpha=0.3)
    meta = results["meta"]
    fig.suptitle("Update downtime per method: Flink %s, ansible-core %s, N=%s per method, %s cores, %s"
                 % (meta.get("flink"), core_version(meta), meta.get("n"), meta.get("cores"), meta.get("date")),
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def core_version(meta):
    text = meta.get("ansible_core") or ""
    return text.split("core", 1)[-1].strip(" []") if "core" in text else text


# --------------------------------------------------------------------------- markdown


def downtime_section(results, lines, targets):  # pylint: disable=too-many-locals
    methods = methods_measured(results)
    stopped = by_method(results, "records_stopped_ms")
    gap = by_method(results, "running_gap_ms")
    wall = by_method(results, "wall_s")
    floor_s, floor_g, floor_w = med(stopped["floor"]), med(gap["floor"]), med(wall["floor"])
    lines += ["## 1. Update downtime", "",
              "Each update stops the job with an atomic stop-with-savepoint and starts the other JAR version "
              "(v1 <-> v2) from that savepoint. The methods take turns (the order rotates every round); each "
              "has its own job (same name for all of its updates, a new `--tag` per update) on the same "
              "cluster. Measured by observers independent of the method:", "",
              "- **records stopped**: the longest pause between consecutive heartbeat timestamps around the "
              "update (the job prints `FLINKOPS HB offset=<n> ts=<ms>` every %s records at %s records/s, so one "
              "heartbeat every %.0f ms), read from the TaskManager stdout;" % (
                  results["meta"]["heartbeat_every"], results["meta"]["rate"],
                  1000.0 * results["meta"]["heartbeat_every"] / results["meta"]["rate"]),
              "- **RUNNING gap**: how long no job of that name had all tasks RUNNING, from a thread polling "
              "`GET /jobs/overview` every 20 ms (measured mean interval: %.0f ms);" % (
                  med([r["observer_interval_ms"] for r in results["downtime"]]) or 0),
              "- **wall**: the method's own run time (its process(es); the floor and flink_job/role wait until "
              "every task runs, the CLI's `flink run -d` returns once the job is submitted; the role's "
              "includes its health window of %ss and its housekeeping)." % results["meta"]["health_window"],
              "",
              "Times: median (min–max), IQR when N >= 4. Ratios are medians over the floor's median.", "",
              "| method | records stopped, ms | ratio | RUNNING gap, ms | ratio | wall, s | ratio | exactly-once |",
              "|---|---|---|---|---|---|---|---|"]
    for m in methods:
        runs = [r for r in results["downtime"] if r["method"] == m]
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %d/%d |" % (
            LABELS[m], spread(stopped[m]), fx(ratio(med(stopped[m]), floor_s)), spread(gap[m]),
            fx(ratio(med(gap[m]), floor_g)), spread(wall[m], "%.2f"), fx(ratio(med(wall[m]), floor_w)),
            sum(1 for r in runs if r["exactly_once"]), len(runs)))
    lines += ["", "![Downtime per method](%s)" % PNG, "",
              "**Exactly-once** means: within each run the heartbeat offsets advance by exactly %s with no "
              "repeat and no hole, and the first offset of the new job is the last offset of the old job plus "
              "%s." % (results["meta"]["heartbeat_every"], results["meta"]["heartbeat_every"]), "",
              "### Where the records-stopped time goes (medians, ms)", "",
              "From the heartbeats and Flink's own timestamps in `/jobs/overview`: *stop* = last heartbeat of "
              "the old job -> old job FINISHED (the savepoint); *handover* = old job FINISHED -> new job "
              "created (the client's part: noticing the savepoint, and submitting); *start* = new job created -> "
              "its first heartbeat (scheduling, restore). *Before stop* = method start -> last old heartbeat "
              "(process start, pre-flight, planning); *after start* = first new heartbeat -> method end.", "",
              "| method | before stop | stop | handover | start | records stopped | after start |",
              "|---|---|---|---|---|---|---|"]
    phases = {}
    for m in methods:
        runs = [r for r in results["downtime"] if r["method"] == m]
        phases[m] = dict((k, med([r[k] for r in runs])) for k in (
            "before_stop_ms", "stop_phase_ms", "handover_ms", "start_phase_ms", "records_stopped_ms",
            "after_start_ms"))
        lines.append("| %s | %s |" % (SHORT[m].replace("\n", " "), " | ".join(
            "n/a" if phases[m][k] is None else "%.0f" % phases[m][k] for k in (
                "before_stop_ms", "stop_phase_ms", "handover_ms", "start_phase_ms", "records_stopped_ms",
                "after_start_ms"))))
    lines += ["", "<details><summary>Every update</summary>", "",
              "| round | method | records stopped, ms | RUNNING gap, ms | wall, s | stop | handover | start | "
              "last old offset | first new offset | exactly-once |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(results["downtime"], key=lambda r: (r["round"], METHODS.index(r["method"]))):
        lines.append("| %d | %s | %.0f | %.0f | %.2f | %s | %s | %s | %d | %d | %s |" % (
            r["round"], SHORT[r["method"]].replace("\n", " "), r["records_stopped_ms"], r["running_gap_ms"], r["wall_s"],
            *["n/a" if r[k] is None else "%.0f" % r[k] for k in ("stop_phase_ms", "handover_ms", "start_phase_ms")],
            r["last_old_offset"], r["first_new_offset"], "yes" if r["exactly_once"] else "**NO**"))
    lines += ["", "</details>", ""]

    def explain(m):
        excess = dict((k, (phases[m][k] or 0) - (phases["floor"][k] or 0))
                      for k in ("stop_phase_ms", "handover_ms", "start_phase_ms"))
        worst = max(excess, key=excess.get)
        names = {"stop_phase_ms": "stop (savepoint, cluster side)", "handover_ms": "handover (client side)",
                 "start_phase_ms": "start (scheduling and restore, cluster side)"}
        text = ("against the floor, the phases differ by stop %+.0f ms, handover %+.0f ms, start %+.0f ms; "
                "the largest excess is in the %s." % (excess["stop_phase_ms"], excess["handover_ms"],
                                                      excess["start_phase_ms"], names[worst]))
        if worst == "handover_ms":
            text += (" That is time between the savepoint completing and the new job being submitted: the "
                     "savepoint poll interval and whatever the client does between the stop and the run "
                     "request. Closing it: poll the savepoint status faster and send the run request "
                     "immediately after.")
        else:
            text += (" That phase is Flink's own work on a loaded 2-core machine, the same requests as the "
                     "floor's; it is noise between runs rather than something the client adds. More runs "
                     "(larger N) on a quiet machine would narrow it.")
        return text

    ratio_fj = ratio(med(stopped["flink_job"]), floor_s)
    ratio_role = ratio(med(stopped["role"]), floor_s)
    ratio_cli = ratio(med(stopped["flink_job"]), med(stopped["cli"]))
    targets.append(("flink_job update: records stopped <= 1.1x the floor (issue 16's held-out bar)",
                    fx(ratio_fj), ratio_fj is not None and ratio_fj <= 1.1, ratio_fj, 1.1,
                    explain("flink_job")))
    targets.append(("flink_job update: far below the Flink CLI's records stopped (taken as <= 0.75x the CLI's "
                    "median)", fx(ratio_cli) + " of the CLI", ratio_cli is not None and ratio_cli <= 0.75,
                    ratio_cli, 0.75,
                    "the CLI's handover includes starting a JVM for `flink run` and building the job graph on "
                    "the client (median handover %.0f ms vs %.0f ms for flink_job)." % (
                        phases["cli"]["handover_ms"] or 0, phases["flink_job"]["handover_ms"] or 0)))
    targets.append(("role update: records stopped <= 1.5x the floor", fx(ratio_role),
                    ratio_role is not None and ratio_role <= 1.5, ratio_role, 1.5, explain("role")))
    eo = all(r["exactly_once"] for r in results["downtime"])
    targets.append(("exactly-once across every update (offsets continue, no repeat, no gap)",
                    "%d/%d updates" % (sum(1 for r in results["downtime"] if r["exactly_once"]),
                                       len(results["downtime"])), eo, None, None,
                    "see the per-update table for the offsets."))


def before_stop(requests):
    """The requests an update sent before its stop (``POST /jobs/:id/stop``), ids as ``:id``,
    ``:jarid`` and ``:n``; and whether it sent a stop at all."""
    names = []
    for method, path in requests:
        if method == "POST" and STOP_RE.match(path):
            return names, True
        names.append("%s %s" % (method, NUMBER_RE.sub("/:n", JAR_ID_RE.sub("/jars/:jarid", ID_RE.sub(":id", path)))))
    return names, False


def precheck_section(results, lines, targets):
    """flink_job with its state pre-check (state_check: strict, the default) against without (off)."""
    stopped = by_method(results, "records_stopped_ms")
    with_check, without = med(stopped["flink_job"]), med(stopped["flink_job_check_off"])
    r = ratio(with_check, without)
    medians = tuple("n/a" if value is None else "%.0f" % value for value in (with_check, without))
    lines += ["### The state-compatibility pre-check (issue 17)", "",
              "`flink_job` compares the running job's stateful vertices with the new program's plan before "
              "it stops anything (`state_check`, default `strict`). The same updates without the check "
              "(`state_check: off`) ran in the same rounds: records stopped, median, %s ms with the check "
              "and %s ms without (%s)." % (medians + (fx(r),)), ""]
    targets.append(("flink_job update: records stopped with the state pre-check <= 1.1x without it (issue 17: "
                    "the check runs before the stop)", fx(r), r is not None and r <= 1.1, r, 1.1,
                    "the check's reads happen before the stop, so a difference in records stopped is the "
                    "spread between runs of the same stop, savepoint and start (see the per-update table); "
                    "more rounds (BENCH_N) on a quieter machine narrow it."))
    requests = (results.get("precheck") or {}).get("requests") or {}
    if not all(requests.get(m) for m in ("flink_job", "flink_job_check_off")):
        return
    on, on_stopped = before_stop(requests["flink_job"])
    off, off_stopped = before_stop(requests["flink_job_check_off"])
    added = collections.Counter(on) - collections.Counter(off)
    dropped = collections.Counter(off) - collections.Counter(on)
    count = sum(added.values())
    only_reads = all(name.startswith("GET ") for name in added)
    lines += ["One more update of each, through a counting HTTP proxy after the rounds: the REST requests "
              "each sent before its stop (`POST /jobs/:id/stop`)%s." % (
                  "" if on_stopped and off_stopped else " (**no stop request seen**: all requests counted)"), "",
              "| flink_job | requests before the stop | of them |", "|---|---|---|"]
    for label, names in (("with the pre-check", on), ("`state_check: off`", off)):
        counts = collections.Counter(names)
        lines.append("| %s | %d | %s |" % (label, len(names), ", ".join(
            "`%s` x%d" % (name, n) for name, n in counts.items())))
    lines += ["", "The pre-check added %d request(s): %s%s." % (
        count, ", ".join("`%s` x%d" % (name, n) for name, n in added.items()) or "none",
        "; without it these were sent instead: %s" % ", ".join(
            "`%s` x%d" % (name, n) for name, n in dropped.items()) if dropped else ""), ""]
    targets.append(("the pre-check adds at most 2 REST reads to an upgrade, besides the plan (issue 17)",
                    "%d %s" % (count, "reads" if only_reads else "requests, not all reads"),
                    count <= 2 and only_reads, count, 2,
                    "the requests it added before the stop: %s." % ", ".join(
                        "`%s` x%d" % (name, n) for name, n in added.items())))


def noop_section(results, lines, targets):
    noop = results["noop"]
    walls, reqs = noop["walls"], noop["requests"]
    base = med(walls["read_only"])
    labels = {"read_only": "one `ansible.builtin.uri` GET /overview (baseline)",
              "flink_job": "one `flink_job` task, job up to date",
              "role": "`job_deploy` role, job up to date"}
    lines += ["## 2. No-op cost", "",
              "`ansible-playbook` runs with nothing to change, against the smallest Ansible run that reads "
              "the cluster. Wall: median (min–max) of N=%d. REST requests were counted by a counting HTTP "
              "proxy on loopback in front of Flink (one extra run of each); *changed* lists the "
              "`changed=` of every run." % len(walls["read_only"]), "",
              "| run | wall, s | ratio to the baseline | REST requests | changed |", "|---|---|---|---|---|"]
    for key in ("read_only", "flink_job", "role"):
        lines.append("| %s | %s | %s | %d | %s |" % (labels[key], spread(walls[key], "%.2f"),
                                                     fx(ratio(med(walls[key]), base)), len(reqs[key]),
                                                     ",".join(str(c) for c in noop["changed"][key])))
    lines += ["", "Requests made (job and trigger ids shown as `:id`):", ""]
    for key in ("read_only", "flink_job", "role"):
        counts = {}
        for method, path in reqs[key]:
            name = "%s %s" % (method, ID_RE.sub(":id", path))
            counts[name] = counts.get(name, 0) + 1
        lines.append("- %s: %s" % (labels[key], ", ".join("`%s` x%d" % (k, v) for k, v in counts.items())))
    lines.append("")
    per_task = None
    fj, role = med(walls["flink_job"]), med(walls["role"])
    if fj is not None and base:
        per_task = fj - base
    r_fj, r_role = ratio(fj, base), ratio(role, base)
    targets.append(("no-op flink_job run <= 1.5x the single-uri run", fx(r_fj), r_fj is not None and r_fj <= 1.5,
                    r_fj, 1.5, "one flink_job task costs %.2f s more than one uri task (module start, import "
                    "of the module_utils, hashing the local JAR, %d requests)." % (
                        per_task or 0, len(reqs["flink_job"]))))
    role_reqs = reqs["role"]
    run_ids = set(ID_RE.search(p).group(0) for _m, p in role_reqs
                  if p.startswith("/jobs/") and ID_RE.search(p) and "/savepoints" not in p)
    per_run = sum(1 for _m, p in role_reqs if p.startswith("/jobs/") and ID_RE.search(p))
    disposals = sum(1 for m, p in role_reqs if m == "POST" and p == "/savepoint-disposal")
    why_role = ("the role runs its whole flow when nothing changes: %d REST requests from separate module "
                "processes (%.2f s over the baseline). %d of them are `GET /jobs/:id` and `/jobs/:id/checkpoints` "
                "for the %d runs of this job that Flink still lists (flink_job_info, once in the pre-flight "
                "and once in the housekeeping), so the count grows with every update for as long as Flink keeps "
                "finished jobs (`jobstore.expiration-time`, 1 h by default)" % (
                    len(role_reqs), (role or 0) - (base or 0), per_run, len(run_ids)))
    if disposals:
        why_role += ("; %d are `POST /savepoint-disposal` of old savepoints that earlier runs already disposed "
                     "(Flink still lists them in the finished jobs' checkpoints; every run reports changed=0)"
                     % disposals)
    why_role += (". Closing it: read only the active run in the pre-flight, skip the housekeeping when "
                 "flink_job changed nothing, and do the pre-flight reads in one module process.")
    targets.append(("no-op role run <= 1.5x the single-uri run", fx(r_role), r_role is not None and r_role <= 1.5,
                    r_role, 1.5, why_role))
    why_reads = (
        "the target predates the concurrency guard and the health check of an up-to-date job; the reads "
        "are the job list, the JAR list (the guard's intents: another run may still be gating this very "
        "spec, and the answer must not be green before it passed), the exception history (a job that "
        "runs the spec but restarted lately is not reported healthy) and the checkpoints (restored_from "
        "in the result). Each answers a question the no-op run must answer; none was dropped.")
    targets.append(("REST requests of one up-to-date flink_job <= 3", "%d" % len(reqs["flink_job"]),
                    len(reqs["flink_job"]) <= 3, len(reqs["flink_job"]), 3,
                    why_reads if len(reqs["flink_job"]) > 3 else ""))
    targets.append(("REST requests of the role for one up-to-date job <= 3", "%d" % len(reqs["role"]),
                    len(reqs["role"]) <= 3, len(reqs["role"]), 3,
                    "the role's up-to-date run is flink_job's (%d requests, see the previous item)." % len(
                        reqs["flink_job"])))


def upload_section(results, lines, targets):
    up = results["upload"]
    size_mb = up["size_bytes"] / 1e6
    curl = [size_mb / r["wall_s"] for r in up["curl"]]
    module = [size_mb / r["wall_s"] for r in up["module"]]
    noop = [r["wall_s"] for r in up["module_noop"]]
    upload_only = [size_mb / max(1e-6, r["wall_s"] - n) for r, n in zip(up["module"], noop)]
    rss = [r["rss_kib"] * 1024 / 1e6 for r in up["module"]]
    small = [r["rss_kib"] * 1024 / 1e6 for r in up["small_module"]]
    curl_rss = [r["rss_kib"] * 1024 / 1e6 for r in up["curl"]]
    hash_s = up["hash_s"]
    mod_wall = med([r["wall_s"] for r in up["module"]])
    lines += ["## 3. Upload of a %.0f MiB (%.0f MB) JAR" % (up["size_bytes"] / 1048576.0, size_mb), "",
              "A valid JAR (the v1 job plus one stored, uncompressed entry of random bytes) uploaded to "
              "`/jars/upload` on loopback by `curl -F jarfile=@...` and by the `flink_jar` module run in its "
              "own process the way Ansible runs it (`python -m ansible_collections.flinkops.flink.plugins."
              "modules.flink_jar`, JSON arguments on stdin), taking turns, %d each; the upload is deleted "
              "after each run. Peak memory is the process's max RSS from `/usr/bin/time -f %%M`. The cluster "
              "has `rest.server.max-content-length` raised to 1 GiB for this (both tools alike)." % len(curl), "",
              "| | value: median (min–max) |", "|---|---|",
              "| curl throughput, MB/s | %s |" % spread(curl, "%.1f"),
              "| flink_jar throughput (whole module run), MB/s | %s |" % spread(module, "%.1f"),
              "| ratio flink_jar / curl (medians) | %s |" % fx(ratio(med(module), med(curl))),
              "| flink_jar throughput of the upload alone (run minus a no-op run), MB/s | %s |"
              % spread(upload_only, "%.1f"),
              "| flink_jar wall, s | %s |" % spread([r["wall_s"] for r in up["module"]], "%.2f"),
              "| flink_jar no-op run on the same JAR (start + sha256 + GET /jars), s | %s |" % spread(noop, "%.2f"),
              "| sha256 of the JAR alone (the module's hashing function, in-process), s | %s |"
              % spread(hash_s, "%.2f"),
              "| share of flink_jar's time spent hashing | %.0f%% |" % (100.0 * (med(hash_s) or 0) / (mod_wall or 1)),
              "| flink_jar peak RSS, MB (%.0f MB JAR) | %s |" % (size_mb, spread(rss, "%.1f")),
              "| flink_jar peak RSS, MB (%.0f MB JAR) | %s |" % (up["small_module"][0]["size_bytes"] / 1e6,
                                                                 spread(small, "%.1f")),
              "| curl peak RSS, MB | %s |" % spread(curl_rss, "%.1f"), ""]
    r_tp = ratio(med(module), med(curl))
    targets.append(("upload throughput >= 0.8x curl", fx(r_tp), r_tp is not None and r_tp >= 0.8, r_tp, 0.8,
                    "of flink_jar's %.2f s, %.2f s is hashing the JAR (the content hash is part of the upload "
                    "name, so it is computed before the first byte is sent) and %.2f s is the module start and "
                    "the JAR list; the upload alone runs at %.0f MB/s vs curl's %.0f MB/s. Closing it: hash "
                    "and send in one pass is impossible with the hash in the multipart header, so it would "
                    "need a cheaper identity (e.g. a caller-supplied checksum, skipping the local hash) or a "
                    "faster digest." % (mod_wall or 0, med(hash_s) or 0,
                                        max(0.0, (med(noop) or 0) - (med(hash_s) or 0)),
                                        med(upload_only) or 0, med(curl) or 0)))
    targets.append(("flink_jar peak memory < 100 MB for the big JAR", "%.1f MB" % (max(rss) if rss else 0),
                    bool(rss) and max(rss) < 100, max(rss) if rss else None, 100,
                    "peak RSS %.1f MB with the big JAR vs %.1f MB with a small one." % (
                        max(rss) if rss else 0, max(small) if small else 0)))


def scale_section(results, lines, targets):
    sc = results["scale"]
    one, eight = med(sc["one"]), med(sc["eight"])
    r = ratio(eight, one)
    lines += ["## 4. Scale: 8 jobs on 2 clusters in one play", "",
              "An inventory of 8 hosts (`ansible_connection: local`), each host one job (4 on each of two "
              "clusters), one play with `-f 8` running `flink_job` on every host to update its job (v1 <-> "
              "v2), against the same play limited to one host updating one job. Taking turns, %d rounds; "
              "the downtime jobs were cancelled first." % len(sc["one"]), "",
              "| play | wall, s | ratio |", "|---|---|---|",
              "| one job | %s | 1.00x |" % spread(sc["one"], "%.2f"),
              "| 8 jobs, 2 clusters, forks 8 | %s | %s |" % (spread(sc["eight"], "%.2f"), fx(r)), ""]
    targets.append(("8 jobs on 2 clusters: wall <= 3x one job", fx(r), r is not None and r <= 3.0, r, 3.0,
                    "8 module processes (and 8 Flink job restarts) share 2 cores."))


STORE_KINDS = ("zookeeper", "s3", "postgresql")
STORE_LABELS = {"zookeeper": "ZooKeeper", "s3": "S3 (SeaweedFS)", "postgresql": "PostgreSQL"}
STORE_METHOD_LABELS = {"floor": LABELS["floor"], "flink_job": "flink_job, records in the JAR store (no `state_store`)",
                       "flink_job_zookeeper": "flink_job, `state_store: zookeeper://...`",
                       "flink_job_s3": "flink_job, `state_store: s3://...` (SeaweedFS)",
                       "flink_job_postgresql": "flink_job, `state_store: postgresql://...`"}


def store_requests(kind, snapshot):
    """The requests among a store's messages of one run: HTTP requests (S3), frames other than pings
    (ZooKeeper, with the session's connect and close), statements (PostgreSQL: Execute or Query)."""
    ops = snapshot["ops"]
    if kind == "postgresql":
        return ops.get("execute", 0) + ops.get("query", 0)
    return sum(n for name, n in ops.items() if name != "ping")


def store_ops(snapshot):
    """A store's messages of one run, as ``kind xN`` (bench/wire.py's counts)."""
    return ", ".join("%s x%d" % (kind, n) for kind, n in sorted(snapshot["ops"].items(), key=lambda item: -item[1]))


def store_section(results, lines, targets):  # pylint: disable=too-many-locals
    """flink_job with a durable state_store (bench/store.py): downtime, round trips, a full store."""
    st = results["store"]
    runs = st.get("downtime") or []
    methods = [m for m in STORE_METHOD_LABELS if any(r["method"] == m for r in runs)]
    stopped = dict((m, [r["records_stopped_ms"] for r in runs if r["method"] == m]) for m in methods)
    floor_s = med(stopped.get("floor") or [])
    lines += ["## 5. Durable state stores (`state_store`)", "",
              "flink_job with its records in a durable store instead of the JobManager's JAR upload "
              "directory, on real stores started for this part: SeaweedFS's S3 gateway, ZooKeeper (from "
              "the Flink distribution) and PostgreSQL 15, all on loopback. Each measurement has its floor "
              "in the same run.", "",
              "### Records stopped during an upgrade with a store", "",
              "The same updates as in part 1 (v1 <-> v2 from a stop-with-savepoint, heartbeats of the "
              "sample job), with the floor, flink_job without a store and flink_job with each store "
              "taking turns in the same rounds (N=%d each). The store is read before the stop and written "
              "after the submit, never between: records stopped should match flink_job's without a "
              "store." % st.get("n", 0), "",
              "| method | records stopped, ms | ratio to the floor | RUNNING gap, ms | wall, s | exactly-once |",
              "|---|---|---|---|---|---|"]
    for m in methods:
        mine = [r for r in runs if r["method"] == m]
        lines.append("| %s | %s | %s | %s | %s | %d/%d |" % (
            STORE_METHOD_LABELS[m], spread(stopped[m]), fx(ratio(med(stopped[m]), floor_s)),
            spread([r["running_gap_ms"] for r in mine]), spread([r["wall_s"] for r in mine], "%.2f"),
            sum(1 for r in mine if r["exactly_once"]), len(mine)))
    lines.append("")
    phases = dict((m, dict((k, med([r.get(k) for r in runs if r["method"] == m]))
                           for k in ("stop_phase_ms", "handover_ms", "start_phase_ms"))) for m in methods)
    for kind in STORE_KINDS:
        method = "flink_job_" + kind
        if method not in methods or "floor" not in methods:
            continue
        r = ratio(med(stopped[method]), floor_s)
        excess = dict((k, (phases[method][k] or 0) - (phases["floor"][k] or 0)) for k in phases["floor"])
        targets.append(("flink_job update with a %s state store: records stopped <= 1.1x the floor" % STORE_LABELS[kind],
                        fx(r), r is not None and r <= 1.1, r, 1.1,
                        "against the floor, the phases differ by stop %+.0f ms, handover %+.0f ms, start %+.0f ms "
                        "(medians of N=%d). The store's reads and writes happen before the stop and after the "
                        "submit: a handover excess would be the store's; stop and start are Flink's own work on "
                        "a loaded 2-core machine, spread between runs that more rounds narrow." % (
                            excess["stop_phase_ms"], excess["handover_ms"], excess["start_phase_ms"],
                            len(stopped[method]))))
    noop = st.get("noop") or {}
    if not noop:
        return
    walls, counts, changed = noop["walls"], noop["counts"], noop["changed"]
    kinds = [k for k in STORE_KINDS if "%s/empty" % k in walls]
    base = med(walls.get("jar_store") or [])
    lines += ["### An up-to-date run with a store", "",
              "`flink_job` with nothing to change (the spec the job runs), N=%d timed runs per store, taking "
              "turns: against an *empty* store (a fresh S3 prefix, ZooKeeper chroot or PostgreSQL database "
              "holding only this job's records) and a *full* one holding %d other job names' histories as well "
              "(spec record, confirmation, %d operation-log entries and the migration mark each, written by "
              "the collection's own record writers: %s entries). The first run against each store imports "
              "the job's records from the JAR store and is not timed. One more run of each went through two "
              "counting proxies: an HTTP proxy in front of Flink (REST requests) and a TCP proxy in front of "
              "the store (bench/wire.py: it reads the protocol's messages off the wire). *Store requests*: "
              "HTTP requests (S3), ZooKeeper requests (with the session's connect and close, without pings), "
              "SQL statements (PostgreSQL). A *store round trip* is a client message sent after the store "
              "last answered, the connection set-up included (PostgreSQL's start-up and SCRAM exchange): "
              "boto3 and psycopg wait for each answer, so theirs are exact; kazoo pipelines its reads, so "
              "ZooKeeper's depend on how many answers arrive before the next request leaves." % (
                  len(walls.get("jar_store") or []), st.get("fill_jobs", 0), st.get("fill_operations", 0),
                  ", ".join("%s %d (written in %.0f s)" % (STORE_LABELS[k], st["fill"][k]["entries"], st["fill"][k]["seconds"])
                            for k in kinds if k in st.get("fill", {}))), "",
              "| store | wall, s: empty store | wall, s: %d jobs | ratio full / empty | REST requests | store "
              "requests: empty / full | store round trips: empty / full | store connections | store messages (empty "
              "store) | changed |" % st.get("fill_jobs", 0),
              "|---|---|---|---|---|---|---|---|---|---|",
              "| none (records in the JAR store) | %s | | | %d | | | | | %s |" % (
                  spread(walls.get("jar_store") or [], "%.2f"), len(counts["jar_store"]["rest"]),
                  ",".join(str(c) for c in changed.get("jar_store") or []))]
    trips, reqs = {}, {}
    for kind in kinds:
        empty, full = counts["%s/empty" % kind], counts["%s/full" % kind]
        trips[kind] = (empty["store"]["round_trips"], full["store"]["round_trips"])
        reqs[kind] = (store_requests(kind, empty["store"]), store_requests(kind, full["store"]))
        lines.append("| %s | %s | %s | %s | %d | %d / %d | %d / %d | %d | %s | %s |" % (
            STORE_LABELS[kind], spread(walls["%s/empty" % kind], "%.2f"), spread(walls["%s/full" % kind], "%.2f"),
            fx(ratio(med(walls["%s/full" % kind]), med(walls["%s/empty" % kind]))), len(empty["rest"]),
            reqs[kind][0], reqs[kind][1], trips[kind][0], trips[kind][1], empty["store"]["connections"],
            store_ops(empty["store"]),
            ",".join(str(c) for c in changed["%s/empty" % kind] + changed["%s/full" % kind])))
    lines += ["", "Wall with a store against without one (medians): %s." % ", ".join(
        "%s %s" % (STORE_LABELS[k], fx(ratio(med(walls["%s/empty" % k]), base))) for k in kinds), ""]
    same = all(full <= empty for empty, full in reqs.values())
    targets.append(("up-to-date run: no more store requests on a store holding %d jobs' histories than on an "
                    "empty one" % st.get("fill_jobs", 0),
                    ", ".join("%s %d / %d" % (STORE_LABELS[k], reqs[k][0], reqs[k][1]) for k in kinds), same,
                    None, None, "the full store took more requests: the run reads beyond its own job's scope."))
    for kind in kinds:
        r = ratio(med(walls["%s/full" % kind]), med(walls["%s/empty" % kind]))
        name = "no-op flink_job on a %s store holding %d jobs' histories <= 1.2x one on an empty store" % (
            STORE_LABELS[kind], st.get("fill_jobs", 0))
        if reqs[kind][1] > reqs[kind][0]:
            why = "the run on the full store made %d store requests, on the empty one %d." % (
                reqs[kind][1], reqs[kind][0])
        else:
            why = ("the same %d store requests on both: the difference in wall is the store's own cost of "
                   "answering on a larger data set, or spread between runs (N=%d; see the load above)." % (
                       reqs[kind][0], len(walls["%s/full" % kind])))
        targets.append((name, fx(r), r is not None and r <= 1.2, r, 1.2, why))


def findings(results):
    """Where the collection itself costs time, from the numbers of this run."""
    out = []
    if results.get("downtime"):
        ph = dict((m, dict((k, med([r[k] for r in results["downtime"] if r["method"] == m]))
                           for k in ("handover_ms", "before_stop_ms", "after_start_ms", "wall_s")))
                  for m in METHODS)
        out.append("- Handover (old job FINISHED -> new job created), medians: floor %.0f ms, flink_job %.0f ms, "
                   "role %.0f ms (both poll the savepoint every 20 ms, like the floor). flink_job's difference "
                   "to the floor, %+.0f ms, is %.0f%% of its records-stopped median."
                   % (ph["floor"]["handover_ms"], ph["flink_job"]["handover_ms"], ph["role"]["handover_ms"],
                      ph["flink_job"]["handover_ms"] - ph["floor"]["handover_ms"],
                      100.0 * (ph["flink_job"]["handover_ms"] - ph["floor"]["handover_ms"]) / (
                          med([r["records_stopped_ms"] for r in results["downtime"]
                               if r["method"] == "flink_job"]) or 1)))
        out.append("- Wall time, not downtime: flink_job spends %.1f s before the stop (ansible-playbook and "
                   "module start, hashing the JAR, plan) and %.1f s after the first new record; the role %.1f s "
                   "before the stop (pre-flight modules, the JAR check, planning) and %.1f s after (health window "
                   "of %ss, reporting, housekeeping)." % (
                       ph["flink_job"]["before_stop_ms"] / 1000.0, ph["flink_job"]["after_start_ms"] / 1000.0,
                       ph["role"]["before_stop_ms"] / 1000.0, ph["role"]["after_start_ms"] / 1000.0,
                       results["meta"]["health_window"]))
    if results.get("noop"):
        reqs = results["noop"]["requests"]
        out.append("- REST requests of an up-to-date run: flink_job %d, the role %d (%s)." % (
            len(reqs["flink_job"]), len(reqs["role"]),
            ", ".join(sorted(set("%s %s" % tuple(r) for r in reqs["role"]))) or "none"))
    if results.get("upload"):
        up = results["upload"]
        out.append("- flink_jar hashes the JAR before sending it (the hash is in the upload name): %.2f s of "
                   "%.2f s for the big JAR." % (med(up["hash_s"]) or 0, med([r["wall_s"] for r in up["module"]]) or 0))
    return ["", "Where the collection itself costs time (this run):", ""] + out if out else []


STATE_BEGIN = "<!-- state-size section: bench/state_report.py -->"


def write(results, docs):
    docs = Path(docs)
    docs.mkdir(parents=True, exist_ok=True)
    meta = results["meta"]
    load = meta.get("load") or []
    lines = ["# Benchmarks", "",
             "<!-- Generated by `make bench` (bench/run.py, bench/report.py). Do not edit: run it again. -->", "",
             "How long a job is down during an update, and what the automation costs around it, measured on "
             "real local Flink clusters in one run of `make bench`.", "",
             "| | |", "|---|---|",
             "| date | %s |" % meta.get("date"),
             "| machine | %s cores, %s GiB memory, %s |" % (meta.get("cores"), meta.get("memory_gib"), meta.get("cpu")),
             "| OS | %s |" % meta.get("os"),
             "| Flink | %s (standalone session cluster on loopback, 1 JobManager + 1 TaskManager, 8 slots) |"
             % meta.get("flink"),
             "| ansible-core | %s (Python %s) |" % (core_version(meta), meta.get("python")),
             "| N | %s updates per method, %s no-op runs per kind |" % (meta.get("n"), meta.get("n")),
             "| job | sample stateful job, parallelism 1, %s records/s, heartbeat every %s records, "
             "checkpoint every 1 s |" % (meta.get("rate"), meta.get("heartbeat_every")),
             "| load | 1-min loadavg during the run: min %.1f, median %.1f, max %.1f (2 cores) |" % (
                 min(load) if load else 0, med(load) or 0, max(load) if load else 0),
             "| duration | %.0f s |" % meta.get("duration_s", 0), ""]
    targets = []
    body = []
    if results.get("downtime"):
        downtime_section(results, body, targets)
        if {"flink_job", "flink_job_check_off"} <= set(methods_measured(results)):
            precheck_section(results, body, targets)
        plot(results, docs / PNG)
    if results.get("noop"):
        noop_section(results, body, targets)
    if results.get("upload"):
        upload_section(results, body, targets)
    if results.get("scale"):
        scale_section(results, body, targets)
    if results.get("store"):
        store_section(results, body, targets)
    issues = "issue 8" if not any("(issue 17" in t[0] for t in targets) else "issue 8; the pre-check's: issue 17"
    lines += ["## Targets (%s)" % issues, "", "| target | measured | result |", "|---|---|---|"]
    for name, measured, ok, _value, _limit, _why in targets:
        lines.append("| %s | %s | %s |" % (name, measured, verdict(ok)))
    missed = [t for t in targets if not t[2]]
    if missed:
        lines += ["", "Missed targets, by how much, and why (from the numbers below):", ""]
        for name, measured, _ok, value, limit, why in missed:
            by = ""
            if value is not None and limit:
                by = " (%s against a limit of %s: off by %.0f%%)" % (
                    measured, limit, 100.0 * abs(value - limit) / limit)
            lines.append("- **%s**%s: %s" % (name, by, why))
    lines += findings(results)
    lines.append("")
    lines += body
    lines += ["## Reproduce", "", "`make bench` (about %.0f minutes here; `BENCH_N=7 make bench` for more "
              "updates per method). Raw numbers: `build/bench/results.json`; `python bench/run.py "
              "--report-only build/bench/results.json` rewrites this page from them." % (
                  meta.get("duration_s", 0) / 60.0), ""]
    text = "\n".join(lines)
    # The "downtime against state size" section is written by bench/state_report.py
    # (`make bench-state`): keep it when this page is regenerated.
    md = docs / "benchmarks.md"
    if md.exists() and STATE_BEGIN in md.read_text():
        old = md.read_text()
        text = text.rstrip("\n") + "\n\n" + old[old.index(STATE_BEGIN):]
    md.write_text(text)
