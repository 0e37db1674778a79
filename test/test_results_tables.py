"""The tables in README.md and docs/ are generated from results/*.csv (scripts/results_table.py):
the committed documents are what the script writes now, and a changed results file makes its
blocks stale."""

from __future__ import annotations

import importlib.util
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "results_table.py"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _module():
    spec = importlib.util.spec_from_file_location("scripts_results_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_tables_are_what_the_results_files_give():
    blocks = [doc for doc in DOCS if "<!-- results_table " in doc.read_text()]
    assert {ROOT / "docs" / "peers.md", ROOT / "docs" / "transfer.md"} <= set(blocks)
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--check", *map(str, blocks)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr


def test_a_changed_results_file_makes_its_block_stale(tmp_path):
    tables = _module()
    (tmp_path / "results").mkdir()
    csv = tmp_path / "results" / "x.csv"
    shutil.copy(ROOT / "results" / "reach_bernoulli.csv", csv)
    doc = tmp_path / "doc.md"
    doc.write_text(
        "before\n<!-- results_table summary results/x.csv -->\nold\n<!-- end results_table -->\n"
        "after\n"
    )
    assert tables.update(doc, write=True, root=tmp_path)
    text = doc.read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "old" not in text
    assert "| reach_bernoulli | t0_any | 5 |" in text
    assert not tables.update(doc, write=False, root=tmp_path)  # fresh now
    csv.write_text(csv.read_text().replace(",1.0,4,", ",0.5,4,", 1))  # one seed's success
    assert tables.update(doc, write=False, root=tmp_path)
    assert doc.read_text() == text  # a check writes nothing
    doc.write_text(text.replace("results/x.csv", "results/y.csv"))
    with pytest.raises(FileNotFoundError, match=r"results/y\.csv"):
        tables.update(doc, write=False, root=tmp_path)


def test_steps_to_the_target_and_their_median():
    steps = _module()._steps
    assert steps(["20000", "30000", "20000"]) == "20 k, 30 k, 20 k (median 20 k)"
    assert steps(["20000", "", "", "10000"]) == "20 k, never, never, 10 k (median never)"
    assert steps(["20000", "40000", "", "10000"]) == "20 k, 40 k, never, 10 k (median 30 k)"
    assert steps(["20000", None]) == ""  # a run without evaluation during training
    assert steps([""]) == "never" and steps(["20000"]) == "20 k"
    assert _module()._median([1.0, math.inf]) == math.inf
