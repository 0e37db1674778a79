"""Markdown tables of results/*.csv, for docs/experiments.md (so no figure is copied by hand).

python scripts/results_table.py results/reach_bernoulli.csv results/reach_gaussian.csv

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
import sys
from pathlib import Path

from skill_embedding_ros.training.scoring import mean_ci95


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
    return cell


def table(rows: list[dict]) -> str:
    """One row per seed: per task strict success, solutions (regions), the touched rule beside
    them, the return ± its spread over episodes; then the KL columns."""
    tasks = task_keys(rows)
    kls = sorted({k for r in rows for k in r if k.startswith("kl_")})
    head = ["experiment", "seed"]
    head += [f"{t} success, solutions (regions); touched; return" for t in tasks]
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


def summary(rows: list[dict]) -> str:
    """Per experiment and task, over its seeds: mean ± the 95 % t-interval's half-width."""
    tasks = task_keys(rows)
    head = ["experiment", "task", "seeds", "success", "solutions", "reliable", "return", "touched"]
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
                cells += [f"touched rule: {success}", f"touched rule: {found}", "", "", ""]
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
            ]
            out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="+", type=Path, help="results/<experiment>.csv files")
    for path in parser.parse_args().csv:
        if not path.is_file():
            print(f"error: {path} not found (results/*.csv)", file=sys.stderr)
            return 2
    for name in parser.parse_args().csv:
        header, rows = read(Path(name))
        print(f"`{name}` ({'; '.join(header)})\n")
        print(table(rows) + "\n")
        print("Over seeds: mean ± half-width of the 95 % Student-t interval.\n")
        print(summary(rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
