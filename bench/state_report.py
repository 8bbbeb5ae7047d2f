# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Render bench/state_size.py results: docs/benchmarks-state.png and build/bench-state/table.md.

The table (markdown) is what docs/benchmarks.md quotes in its "Downtime against state size"
section; the targets of issue 18 are checked here as ratios within one run.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLOT = ROOT / "docs" / "benchmarks-state.png"
PAGE = ROOT / "docs" / "benchmarks.md"
# Shared with bench/report.py, which keeps this section when it rewrites the page.
STATE_BEGIN = "<!-- state-size section: bench/state_report.py -->"
TABLE = ROOT / "build" / "bench-state" / "table.md"
ORDER = ("savepoint-canonical", "savepoint-native", "last-state", "blue-green", "in-place-rescale")


def _ok(runs):
    return [r for r in runs if "error" not in r]


def _get(runs, size, strategy, method):
    return next((r for r in _ok(runs) if r["size_gb"] == size and r["strategy"] == strategy
                 and r["method"] == method), None)


def targets(results):
    """The issue's targets, each as (what, ratio or value, met) within this one run."""
    runs = results["runs"]
    checks = []
    for size in sorted({r["size_gb"] for r in _ok(runs)}):
        for strategy in ("savepoint-canonical", "savepoint-native", "in-place-rescale"):
            floor, module = _get(runs, size, strategy, "floor"), _get(runs, size, strategy, "module")
            if floor and module and floor["records_stopped_ms"]:
                ratio = module["records_stopped_ms"] / floor["records_stopped_ms"]
                checks.append(("%s %s GB: records stopped, flink_job / floor" % (strategy, size),
                               "%.2fx" % ratio, ratio <= 1.2))
        # Issue 29: each strategy near its own floor (last-state 1.2x; blue/green's pause 2x at 1 GB).
        for strategy, limit, sizes in (("last-state", 1.2, None), ("blue-green", 2.0, (1.0,))):
            floor, module = _get(runs, size, strategy, "floor"), _get(runs, size, strategy, "module")
            if floor and module and floor["records_stopped_ms"] and (sizes is None or size in sizes):
                ratio = module["records_stopped_ms"] / floor["records_stopped_ms"]
                checks.append(("%s %s GB: records stopped, flink_job / floor (<= %sx)" % (strategy, size, limit),
                               "%.2fx" % ratio, ratio <= limit))
        for method in ("floor", "module"):
            bg = _get(runs, size, "blue-green", method)
            if bg:
                checks.append(("blue-green (%s) %s GB: longest pause" % (method, size),
                               "%s ms" % bg["records_stopped_ms"], bg["records_stopped_ms"] <= 1000))
            for strategy in ("savepoint-canonical", "savepoint-native"):
                sp = _get(runs, size, strategy, method)
                if sp:
                    checks.append(("%s (%s) %s GB: records processed twice" % (strategy, method, size),
                                   str(sp["records_twice"]), sp["records_twice"] == 0))
    return checks


def _order(run):
    return (run["size_gb"], ORDER.index(run["strategy"]), run["method"] != "floor")


def table(results):
    meta = results["meta"]
    lines = [
        "Flink %s, %s cores, load %.1f at start / %.1f at end, %s records/s, %s B per key, checkpoints every %s ms, "
        "TaskManager %s, %s." % (meta.get("flink"), meta.get("cores"), meta.get("load_at_start", 0),
                                 meta.get("load_at_end", 0), meta.get("rate"), meta.get("bytes_per_key"),
                                 meta.get("checkpoint_interval_ms"), meta.get("tm_memory"), meta.get("date")),
        "",
    ]
    earlier = results.get("meta_earlier")
    if earlier and any(run.get("earlier") for run in results["runs"]):
        lines += ["Rows marked *earlier run* are kept from the run of %s (load %.1f at start / %.1f at end); "
                  "each ratio below compares a floor and a flink_job row of one run." % (
                      earlier.get("date"), earlier.get("load_at_start", 0), earlier.get("load_at_end", 0)), ""]
    lines += [
        "| state | strategy | by | records stopped (ms) | records processed twice | wall (s) | notes |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for run in sorted(results["runs"], key=_order):
        size = "%s GB" % run["size_gb"]
        if "state_bytes" in run and run["state_bytes"]:
            size = "%.2f GB" % (run["state_bytes"] / 1e9)
        by = "raw REST (floor)" if run["method"] == "floor" else "flink_job"
        if "error" in run:
            lines.append("| %s | %s | %s | - | - | - | failed: %s |" % (
                size, run["strategy"], by, run["error"][:120].replace("|", "/").replace("\n", " ")))
            continue
        detail = run.get("detail") or {}
        notes = []
        if detail.get("overlap_s") is not None:
            notes.append("overlap %.1f s" % detail["overlap_s"])
        if detail.get("overlap_seconds") is not None:
            notes.append("overlap %.1f s" % detail["overlap_seconds"])
        if detail.get("fallback"):
            notes.append("fell back: %s" % detail["fallback"])
        if run.get("earlier"):
            notes.append("*earlier run*")
        lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            size, run["strategy"], by, run["records_stopped_ms"], run["records_twice"], run["wall_s"],
            ", ".join(notes)))
    checks = targets(results)
    if checks:
        lines += ["", "| target (one run) | measured | met |", "|---|---:|---|"]
        lines += ["| %s | %s | %s |" % (what, value, "yes" if met else "**no**") for what, value, met in checks]
    return "\n".join(lines) + "\n"


def plot(results):
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

    fig, ax = plt.subplots(figsize=(8, 4.8))
    for strategy in ORDER:
        for method, style in (("floor", "--"), ("module", "-")):
            points = sorted((r["size_gb"], r["records_stopped_ms"]) for r in _ok(results["runs"])
                            if r["strategy"] == strategy and r["method"] == method
                            and r["records_stopped_ms"] is not None)
            if points:
                ax.plot([p[0] for p in points], [max(p[1], 1) for p in points], style, marker="o",
                        label="%s (%s)" % (strategy, "raw REST floor" if method == "floor" else "flink_job"))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("keyed state (GB, RocksDB)")
    ax.set_ylabel("records stopped: longest pause (ms)")
    ax.set_title("Upgrade downtime against state size (Flink %s)" % results["meta"].get("flink"))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(PLOT, dpi=110)
    plt.close(fig)


def recommendations(results):
    """What the numbers of this run say, per state size (generated, so it follows the numbers)."""
    lines = []
    runs = [r for r in _ok(results["runs"]) if r["method"] == "module" and r["records_stopped_ms"] is not None]
    for size in sorted({r["size_gb"] for r in runs}):
        here = [r for r in runs if r["size_gb"] == size]
        clean = sorted((r for r in here if r["records_twice"] == 0), key=lambda r: r["records_stopped_ms"])
        fastest = min(here, key=lambda r: r["records_stopped_ms"])
        text = "- **%s GB**: " % size
        if clean:
            text += "nothing processed twice and the shortest pause: `%s` (%s ms); " % (
                clean[0]["strategy"], clean[0]["records_stopped_ms"])
        text += "the shortest pause overall: `%s` (%s ms, %s records processed twice)." % (
            fastest["strategy"], fastest["records_stopped_ms"], fastest["records_twice"])
        lines.append(text)
    return lines


def section(results):
    return "\n".join([
        STATE_BEGIN,
        "## Downtime against state size (issue 18)",
        "",
        "`make bench-state` (bench/state_size.py): a job with keyed state of the given size on RocksDB "
        "(incremental checkpoints, retained on cancel), upgraded once by each strategy through "
        "`flink_job` and once by Flink's own floor for the same steps (raw REST, JAR uploaded, 20 ms "
        "polls), each on a freshly filled job, all in one run. Records stopped: the longest time in "
        "which no new record was processed (a replay of records processed already does not count as "
        "progress). Records processed twice: offsets the job's heartbeats show more than once. The job "
        "reads like a consumer of a log: a job restored from older state catches up at full speed. "
        "The last-state floor reads the job's checkpoint statistics once, right after the cancel, from "
        "Flink's cache (`web.refresh-interval`): with checkpoints more frequent than that refresh such a "
        "read can name an older checkpoint than the last one (tests/integration/test_last_state_latest.py "
        "shows it); `flink_job` reads only an answer the cache took after the job ended.",
        "",
        "![Records stopped against state size](benchmarks-state.png)",
        "",
        table(results).rstrip("\n"),
        "",
        "What this run says (flink_job's numbers):",
        "",
    ] + recommendations(results) + [
        "",
        "The guide \"Choosing an upgrade strategy\" (docs/docsite/rst/guide_upgrade_strategies.rst) turns "
        "this into advice. Raw numbers: `build/bench-state/results.json` and the heartbeats of every "
        "step in `build/bench-state/beats/`; `python bench/state_size.py --report-only "
        "build/bench-state/results.json` rewrites this section.",
        "",
    ])


def write_section(results):
    text = PAGE.read_text() if PAGE.exists() else "# Benchmarks\n"
    if STATE_BEGIN in text:
        text = text[:text.index(STATE_BEGIN)]
    PAGE.write_text(text.rstrip("\n") + "\n\n" + section(results))


def write(results):
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    TABLE.write_text(table(results))
    print(TABLE.read_text())
    write_section(results)
    try:
        plot(results)
        print("plot: %s" % PLOT)
    except ImportError:
        print("matplotlib missing (requirements/bench.txt): no plot")
