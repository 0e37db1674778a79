"""Markdown tables of results/*.csv, for README.md and docs/ (so no figure is copied by hand).

    python scripts/results_table.py results/reach_bernoulli.csv results/reach_gaussian.csv
    python scripts/results_table.py --update README.md docs/experiments.md   # rewrite blocks
    python scripts/results_table.py --check README.md docs/experiments.md    # exit 1 if stale

A document holds generated tables between two comments, e.g.

    <!-- results_table summary results/reach_bernoulli.csv results/reach_tasks.csv -->
    (the table; rewritten by --update)
    <!-- end results_table -->

`seeds` makes the per-seed table, `summary` the over-seeds one, `transfer` the transfer grid's
per-method table (its own CSVs: scripts/run_transfer.py); paths are from the repository root.
test/test_results_tables.py runs --check, so a results file and its tables cannot drift.

Per file: one row per seed, then per experiment and task the mean over seeds with a 95 %
Student-t interval (mean ± t(n-1) s/sqrt(n)) of strict success, strict solutions, reliable
solutions (a z, or the plain policy, that ends in its region reliably) and return.
Success and solutions are strict (docs/measuring.md, "How a skill is scored"); the touched
rate and solutions (the rule before) stand beside them. A CSV from before strict scoring has no
touched columns: its success is the touched rule and is labelled so.
"""

from __future__ import annotations

import argparse
import csv
import math
import re
import sys
from pathlib import Path

from skill_embedding_ros.training.scoring import mean_ci95
from skill_embedding_ros.transfer.grid import summary_table


def read(path: Path) -> tuple[list[str], list[dict]]:
    lines = path.read_text().splitlines()
    header = [line[2:] for line in lines if line.startswith("# ")]
    rows = list(csv.DictReader(line for line in lines if not line.startswith("#")))
    for r in rows:  # a peer's rows (scripts/peer_sac.py): per action mode, touched as a rate
        if r.get("actions"):
            r["experiment"] = f"{r['experiment']} ({r['actions']} actions)"
        for key in [k for k in r if k.endswith("_touched_rate")]:
            r[key.removesuffix("_rate")] = r.pop(key)
    header += [f"`{c}`" for c in dict.fromkeys(r["command"] for r in rows if r.get("command"))]
    return header, rows


def task_keys(rows: list[dict]) -> list[str]:
    return sorted({k[: -len("_success")] for r in rows for k in r if k.endswith("_success")})


def _strict(row: dict, task: str) -> bool:
    return bool(row.get(f"{task}_touched"))


def _cell(row: dict, task: str) -> str:
    success = float(row[f"{task}_success"])
    regions = row[f"{task}_regions"]
    if not _strict(row, task):
        return f"touched rule: {success:.0%}, {row[f'{task}_solutions']} ({regions})"
    cell = f"{success:.0%}, {row[f'{task}_solutions']} ({regions})"
    cell += f"; touched {float(row[f'{task}_touched']):.0%}, {row[f'{task}_touched_solutions']}"
    if row.get(f"{task}_return"):
        cell += (
            f"; return {float(row[f'{task}_return']):.1f} ± {float(row[f'{task}_return_std']):.1f}"
        )
    if row.get(f"{task}_z_consistency"):
        cell += f"; z consistency {float(row[f'{task}_z_consistency']):.0%}"
    if f"{task}_steps_to_solutions" in row:
        steps = _steps([row[f"{task}_steps_to_solutions"]])
        cell += "; target never reached" if steps == "never" else f"; target reached at {steps}"
    return cell


def table(rows: list[dict]) -> str:
    """One row per seed: per task strict success, solutions (regions), the touched rule beside
    them, the return ± its spread over episodes; then the KL columns."""
    tasks = task_keys(rows)
    kls = sorted({k for r in rows for k in r if k.startswith("kl_")})
    head = ["experiment", "seed"]
    head += [
        f"{t}: strict success, solutions (regions); touched rule; return ± s.d. over episodes"
        for t in tasks
    ]
    head += [k.replace("kl_", "KL ") for k in kls] + ["env steps", "minutes", "commit"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["experiment"], r["seed"]]
        if r.get("error"):  # run_experiments.py keeps a failed run as a row with its exit code
            cells += [f"failed (exit {r['error']})"] + [""] * (len(head) - 3)
            out.append("| " + " | ".join(cells) + " |")
            continue
        cells += [_cell(r, t) for t in tasks]
        cells += [f"{float(r[k]):.2f}" if r.get(k) else "" for k in kls]
        cells += [r["env_steps"], r["minutes"], r.get("commit") or "see header"]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def _interval(values: list[float], fmt: str) -> str:
    if not values:
        return ""
    mean, half = mean_ci95(values)
    return fmt.format(mean) + ("" if half is None else " ± " + fmt.format(half))


def _steps(cells: list[str | None]) -> str:
    """Per seed, the env steps at which the strict solutions first reached the run's target
    ("never": not by the end; an absent column: no evaluation during training), then the
    median, never counting as later than any step."""
    if any(c is None for c in cells):
        return ""
    steps = [float(c) if c != "" else math.inf for c in cells]

    def shown(v: float) -> str:
        return "never" if math.isinf(v) else f"{v / 1000:g} k"

    if len(steps) == 1:
        return shown(steps[0])
    return f"{', '.join(map(shown, steps))} (median {shown(_median(steps))})"


def _median(values: list[float]) -> float:
    """The median, never (inf) among the values: of an even count whose upper middle is never,
    never (numpy would say so too, with a warning)."""
    ordered = sorted(values)
    n = len(ordered)
    if n % 2:
        return ordered[n // 2]
    low, high = ordered[n // 2 - 1], ordered[n // 2]
    return math.inf if math.isinf(high) else (low + high) / 2


def summary(rows: list[dict]) -> str:
    """Per experiment and task, over its seeds: mean ± the 95 % t-interval's half-width."""
    tasks = task_keys(rows)
    head = ["experiment", "task", "seeds", "success", "solutions", "reliable", "return", "touched"]
    head += ["env steps to the target solutions, per seed (median)"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in dict.fromkeys(r["experiment"] for r in rows):
        mine = [r for r in rows if r["experiment"] == name and not r.get("error")]
        for t in tasks:
            done = [r for r in mine if r.get(f"{t}_success")]
            if not done:
                continue
            strict = [r for r in done if _strict(r, t)]
            if len(strict) != len(done):  # from before strict scoring: not pooled with it
                success = _interval([100 * float(r[f"{t}_success"]) for r in done], "{:.0f} %")
                found = _interval([float(r[f"{t}_solutions"]) for r in done], "{:.1f}")
                cells = [name, t, str(len(done))]
                cells += [f"touched rule: {success}", f"touched rule: {found}", "", "", "", ""]
                out.append("| " + " | ".join(cells) + " |")
                continue

            def values(key: str, scale: float = 1.0, rows=strict) -> list[float]:
                return [scale * float(r[key]) for r in rows if r.get(key) not in (None, "")]

            cells = [
                name,
                t,
                str(len(strict)),
                _interval(values(f"{t}_success", 100), "{:.0f} %"),
                _interval(values(f"{t}_solutions"), "{:.1f}"),
                _interval(values(f"{t}_reliable_solutions"), "{:.1f}"),
                _interval(values(f"{t}_return"), "{:.1f}"),
                _interval(values(f"{t}_touched", 100), "{:.0f} %"),
                _steps([r.get(f"{t}_steps_to_solutions") for r in strict]),
            ]
            out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


BLOCK = re.compile(
    r"(<!-- results_table (?P<kind>seeds|summary|transfer) (?P<paths>[^>]*?) -->\n)(?P<body>.*?)"
    r"(<!-- end results_table -->)",
    re.S,
)
ROOT = Path(__file__).resolve().parents[1]


def render(kind: str, paths: list[str], root: Path = ROOT) -> str:
    """The table a block asks for: per seed (`seeds`) or over seeds (`summary`), of all rows of
    the named CSVs (paths from `root`) in the order given."""
    missing = [path for path in paths if not (root / path).is_file()]
    if missing:
        raise FileNotFoundError(f"a results_table block names {', '.join(missing)}: not found")
    if kind == "transfer":  # the transfer grid's own CSVs (skill_embedding_ros/transfer/grid.py)
        return summary_table([root / path for path in paths]) + "\n"
    rows = [row for path in paths for row in read(root / path)[1]]
    return (table if kind == "seeds" else summary)(rows) + "\n"


def update(doc: Path, write: bool, root: Path = ROOT) -> bool:
    """Regenerate every block in `doc`; True if any was stale. Writes only when `write`."""
    text = doc.read_text()
    fresh = BLOCK.sub(lambda m: m[1] + render(m["kind"], m["paths"].split(), root) + m[5], text)
    if write and fresh != text:
        doc.write_text(fresh)
    return fresh != text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "files",
        nargs="+",
        type=Path,
        help="results/*.csv, or with --update or --check, documents holding results_table blocks",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--update", action="store_true", help="rewrite the documents' blocks")
    mode.add_argument("--check", action="store_true", help="exit 1 if a block is stale")
    args = parser.parse_args()
    for path in args.files:
        if not path.is_file():
            print(f"error: {path} not found", file=sys.stderr)
            return 2
    if args.update or args.check:
        try:
            stale = [doc for doc in args.files if update(doc, write=args.update)]
        except FileNotFoundError as e:
            print(f"error: {e} (paths are from the repository root)", file=sys.stderr)
            return 2
        for doc in stale:
            verb = "rewrote" if args.update else "stale: run scripts/results_table.py --update"
            print(f"{verb} {doc}", file=sys.stderr if args.check else sys.stdout)
        return 1 if stale and args.check else 0
    for name in args.files:
        header, rows = read(name)
        print(f"`{name}` ({'; '.join(header)})\n")
        print(table(rows) + "\n")
        print("Over seeds: mean ± half-width of the 95 % Student-t interval.\n")
        print(summary(rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
