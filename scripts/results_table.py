"""Markdown tables of results/*.csv, for docs/experiments.md (so no figure is copied by hand).

python scripts/results_table.py results/reach_bernoulli.csv results/reach_gaussian.csv
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path


def read(path: Path) -> tuple[list[str], list[dict]]:
    lines = path.read_text().splitlines()
    header = [line[2:] for line in lines if line.startswith("# ")]
    rows = list(csv.DictReader(line for line in lines if not line.startswith("#")))
    header += [f"`{c}`" for c in dict.fromkeys(r["command"] for r in rows if r.get("command"))]
    return header, rows


def table(rows: list[dict]) -> str:
    """One row per seed: per task success / solutions / regions, then the KL columns."""
    tasks = sorted({k[: -len("_success")] for r in rows for k in r if k.endswith("_success")})
    kls = sorted({k for r in rows for k in r if k.startswith("kl_")})
    head = ["experiment", "seed", *[f"{t} success, solutions (regions)" for t in tasks]]
    head += [k.replace("kl_", "KL ") for k in kls] + ["env steps", "minutes", "commit"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["experiment"], r["seed"]]
        if r.get("error"):  # run_experiments.py keeps a failed run as a row with its exit code
            cells += [f"failed (exit {r['error']})"] + [""] * (len(head) - 3)
            out.append("| " + " | ".join(cells) + " |")
            continue
        for t in tasks:
            success = float(r[f"{t}_success"])
            cells.append(f"{success:.0%}, {r[f'{t}_solutions']} ({r[f'{t}_regions']})")
        cells += [f"{float(r[k]):.2f}" for k in kls]
        cells += [r["env_steps"], r["minutes"], r.get("commit") or "see header"]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> None:
    for name in sys.argv[1:]:
        header, rows = read(Path(name))
        print(f"`{name}` ({'; '.join(header)})\n")
        print(table(rows) + "\n")


if __name__ == "__main__":
    main()
