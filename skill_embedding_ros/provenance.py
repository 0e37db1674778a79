"""Which code produced a result: every results and benchmark file records this."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]


def git_commit() -> str | None:
    """Short hash of HEAD, with "-dirty" when the code behind a result differs from it: the
    package (its testing/ helpers build the benchmarks' bags), config/, the benchmark and
    experiment scripts (None outside a git checkout)."""
    git = ["git", "-C", str(_REPO)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        return None
    code = ["skill_embedding_ros", "config", "benchmarks/*.py", "scripts"]
    dirty = subprocess.run([*git, "diff", "--quiet", "HEAD", "--", *code], capture_output=True)
    return head.stdout.strip() + ("-dirty" if dirty.returncode else "")


def runs_commit() -> str | None:
    """`git_commit()` of the code that `python -m skill_embedding_ros...`, started from this
    working directory, runs: `-m` takes the package from the working directory where it finds
    one, so a script run from another checkout than the installed one, whose results come from
    such runs, would otherwise name the installed checkout's code."""
    probe = "from skill_embedding_ros.provenance import git_commit; print(git_commit() or '')"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    return out.stdout.strip() or None
