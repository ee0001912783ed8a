"""The table of ``bench/pathological.py --suite`` records beside Martens &
Sutskever's (2011, Figure 3): failure rate, mean units (minibatches of 1,000
sequences) to success and mean CPU seconds to success per (task, T),
preset and optimizer, and for runs under the paper's criterion the mean
units and CPU seconds at which the library's (looser) criterion was met
first.

Usage::

    python bench/pathological_table.py RECORDS.jsonl [--criterion paper]
        [--format rst|text] [--no-cpu] [--checkpoints DIR]

With ``--checkpoints`` (the suite's checkpoint folder) a second table lists
the runs that have no record yet, those stopped by the suite's
``--max-cpu``: their units so far, updates and last test error.  They are
in neither the failure rates nor the means.

It also prints one ``RESULT`` line per (task, T, preset) with the mean
CPU seconds (``hf_s``, ``adam_s``: the best Adam configuration), the mean
units to success and the failure rate of Hessian-free.
"""

import argparse
import glob
import json
import math
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pathological_suite import ALL_TASKS, read_records  # noqa: E402

from hessianfree.nets.work import WorkCounter  # noqa: E402

#: Martens & Sutskever (2011), Figure 3, as read from the figure: failure
#: rates at T = 30, 50, 100, 200, and the mean minibatches to success at
#: T=200 (xor: at T=100; None where no run succeeded).
PAPER = {
    "addition": ((0, 0, 0, 0.25), {200: 10000}),
    "multiplication": ((0, 0, 0, 0.5), {200: 16200}),
    "temporal_order": ((0, 0, 0.25, 0.75), {200: 9200}),
    "temporal_order_3bit": ((0, 0, 0, 0.5), {200: 12200}),
    "random_permutation": ((0, 0, 0, 0.25), {200: 5100}),
    "xor": ((0, 0, 0.75, 1.0), {100: 10500}),
    "memorization": ((0, 0, 0, 0), {200: 8800}),
    "memorization_20bit": ((0, 0, 0, 0.5), {200: 25600}),
}
PAPER_T = (30, 50, 100, 200)


def paper_cell(task, T):
    """The paper's (failure rate, mean units to success) of (task, T), None
    where it does not give them."""
    if task not in PAPER or T not in PAPER_T:
        return None, None
    rates, units = PAPER[task]
    return rates[PAPER_T.index(T)], units.get(T)


def summarize(records, criterion="paper"):
    """One row per (task, T, preset, optimizer[, config]): runs, failures,
    failure rate, mean units and mean CPU seconds over the solved runs."""
    groups = {}
    for r in records:
        if r.get("criterion") != criterion:
            continue
        key = (r["task"], r["T"], r["preset"], r["optimizer"], r.get("config"))
        groups.setdefault(key, []).append(r)
    rows = []
    for key in sorted(groups, key=lambda k: (ALL_TASKS.index(k[0]) if k[0] in ALL_TASKS
                                             else 99, k[1], k[2], k[3], str(k[4]))):
        runs = groups[key]
        solved = [r for r in runs if r["solved"]]
        rows.append({
            "task": key[0], "T": key[1], "preset": key[2], "optimizer": key[3],
            "config": key[4], "runs": len(runs), "failures": len(runs) - len(solved),
            "fail_rate": (len(runs) - len(solved)) / len(runs),
            "seeds": sorted(r["seed"] for r in runs),
            "units": _mean([r["units"] for r in solved]),
            "cpu_s": _mean([r["cpu_s"] for r in solved]),
            "cpu_s_per_unit": _mean([r["cpu_s_per_unit"] for r in runs]),
            "gemm_s_per_unit": _mean([r.get("gemm_s_per_unit") for r in runs
                                      if r.get("gemm_s_per_unit") is not None]),
            "error_units": _mean([r.get("error_units") for r in solved
                                  if r.get("error_units") is not None]),
            "library": [r["library_criterion_met"] for r in runs
                        if r.get("library_criterion_met")],
        })
    return rows


def _mean(values):
    return sum(values) / len(values) if values else None


def _fmt(value, digits=0):
    return "-" if value is None else f"{value:,.{digits}f}"


def best_adam(rows, task, T, preset):
    """The Adam configuration of (task, T, preset) with the lowest failure
    rate, then the fewest mean units."""
    adam = [r for r in rows if r["optimizer"] == "adam" and r["task"] == task
            and r["T"] == T and r["preset"] == preset]
    if not adam:
        return None
    return min(adam, key=lambda r: (r["fail_rate"], math.inf if r["units"] is None
                                    else r["units"]))


#: A Hessian-free run's counts file in the checkpoint folder
#: (``pathological_suite.run_name`` + ``_work.json``).
_WORK_FILE = re.compile(r"hf-(?P<preset>[a-z]+)-(?P<task>[a-z0-9_]+)-T(?P<T>[0-9]+)"
                        r"-s(?P<seed>[0-9]+)_work\.json")


def unfinished(checkpoints, records, criterion="paper"):
    """The Hessian-free runs with counts in ``checkpoints`` but no record
    under ``criterion``: stopped by ``--max-cpu`` and resumable.

    Returns
    -------
    list of dict
        ``task, T, preset, seed, units`` (gradient and curvature examples
        / 1000 so far), ``updates`` and ``error`` (the last test error), by
        T, task (in the suite's order), preset and seed.
    """
    recorded = {(r["task"], r["T"], r["preset"], r["seed"]) for r in records
                if r.get("optimizer") == "hf" and r.get("criterion") == criterion}
    rows = []
    for path in glob.glob(os.path.join(glob.escape(checkpoints), "hf-*_work.json")):
        match = _WORK_FILE.fullmatch(os.path.basename(path))
        if match is None:
            continue
        key = (match["task"], int(match["T"]), match["preset"], int(match["seed"]))
        if key in recorded:
            continue
        with open(path) as f:
            side = json.load(f)
        counter = WorkCounter()
        counter.add(side.get("work", {}))
        rows.append(dict(zip(("task", "T", "preset", "seed"), key), units=counter.units(),
                         updates=side.get("updates", 0), error=side.get("error")))
    return sorted(rows, key=lambda r: (r["T"], ALL_TASKS.index(r["task"])
                                       if r["task"] in ALL_TASKS else 99,
                                       r["preset"], r["seed"]))


def render_unfinished(rows, fmt="rst"):
    """The runs of :func:`unfinished` as a table."""
    header = ["task", "T", "preset", "seed", "units so far", "updates",
              "last test error"]
    lines = [[r["task"], str(r["T"]), r["preset"], str(r["seed"]), _fmt(r["units"]),
              str(r["updates"]), "-" if r["error"] is None else f"{r['error']:.3f}"]
             for r in rows]
    return _format_table(header, lines, fmt)


def _format_table(header, lines, fmt):
    if fmt == "text":
        widths = [max(len(x) for x in col) for col in zip(header, *lines)]
        return "\n".join("  ".join(x.ljust(w) for x, w in zip(line, widths))
                         for line in [header] + lines)
    out = [".. list-table::", "   :header-rows: 1", ""]
    for line in [header] + lines:
        out.append(f"   * - {line[0]}")
        out.extend(f"     - {x}" for x in line[1:])
    return "\n".join(out)


def render(rows, fmt="rst", cpu=True):
    """The Hessian-free rows beside the paper, with the best Adam
    configuration of each (``cpu=False``: without the CPU seconds, for
    records not measured on a quiet machine)."""
    header = ["task", "T", "preset", "failures (runs)", "paper failure rate",
              "mean units to success", "paper units"]
    header += (["mean CPU s to success", "CPU s / unit (GEMM floor)",
                "library criterion: runs, mean units, CPU s",
                "best Adam: failures, units, CPU s"] if cpu else
               ["library criterion: runs, mean units", "best Adam: failures, units"])
    lines = []
    for r in rows:
        if r["optimizer"] != "hf":
            continue
        rate, units = paper_cell(r["task"], r["T"])
        adam = best_adam(rows, r["task"], r["T"], r["preset"])
        library = f"{len(r['library'])}, {_fmt(_mean([m['units'] for m in r['library']]))}"
        adam_text = "-" if adam is None else \
            f"{adam['failures']}/{adam['runs']}, {_fmt(adam['units'])}"
        line = [r["task"], str(r["T"]), r["preset"], f"{r['failures']} ({r['runs']})",
                "-" if rate is None else f"{rate:g}", _fmt(r["units"]),
                "-" if units is None else f"about {units:,}"]
        if cpu:
            line += [_fmt(r["cpu_s"], 1),
                     f"{_fmt(r['cpu_s_per_unit'], 3)} ({_fmt(r['gemm_s_per_unit'], 4)})",
                     f"{library}, {_fmt(_mean([m['cpu_s'] for m in r['library']]), 1)}",
                     adam_text if adam is None else
                     f"{adam_text}, {_fmt(adam['cpu_s'], 1)} ({adam['config']})"]
        else:
            line += [library, adam_text if adam is None else f"{adam_text} ({adam['config']})"]
        lines.append(line)
    return _format_table(header, lines, fmt)


def result_lines(rows):
    """``RESULT task=.. T=.. hf_s=.. adam_s=.. units=.. fail_rate=..`` per
    Hessian-free row (mean CPU seconds and units to success)."""
    lines = []
    for r in rows:
        if r["optimizer"] != "hf":
            continue
        adam = best_adam(rows, r["task"], r["T"], r["preset"])
        adam_s = "-" if adam is None else (
            "unsolved" if adam["cpu_s"] is None else f"{adam['cpu_s']:.1f}")
        hf_s = "unsolved" if r["cpu_s"] is None else f"{r['cpu_s']:.1f}"
        lines.append(f"RESULT task={r['task']} T={r['T']} preset={r['preset']} "
                     f"hf_s={hf_s} "
                     f"adam_s={adam_s} units={_fmt(r['units'], 1).replace(',', '')} "
                     f"fail_rate={r['fail_rate']:.2f} runs={r['runs']}")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records")
    parser.add_argument("--criterion", choices=["paper", "library"], default="paper")
    parser.add_argument("--format", choices=["rst", "text"], default="rst")
    parser.add_argument("--no-cpu", action="store_true",
                        help="leave out the CPU seconds (records from a busy machine)")
    parser.add_argument("--checkpoints", metavar="DIR",
                        help="the suite's checkpoint folder: also list the runs "
                             "stopped by --max-cpu")
    args = parser.parse_args(argv)
    records = read_records(args.records)
    rows = summarize(records, args.criterion)
    print(render(rows, args.format, cpu=not args.no_cpu))
    print()
    if args.checkpoints is not None:
        if not os.path.isdir(args.checkpoints):
            parser.error(f"--checkpoints: {args.checkpoints!r} is not a folder")
        print(render_unfinished(unfinished(args.checkpoints, records, args.criterion),
                                args.format))
        print()
    print("\n".join(result_lines(rows)))


if __name__ == "__main__":
    main()
