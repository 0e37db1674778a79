"""Which code produced a result: every results and benchmark file records this."""

from __future__ import annotations

import os
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


def machine(**extra) -> dict:
    """What a benchmark ran on, alike in every results file. Machines of one kind differ (one
    with AVX2 only, another with AVX512-BF16: docs/speed.md), so a figure says which it came
    from. `extra`: a benchmark's own facts (threads, middleware, the load as it started)."""
    import platform

    import torch

    return {
        "cpu": _cpu_model() or platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "vector_isa": torch.backends.cpu.get_cpu_capability(),  # what torch's kernels use
        "python": platform.python_version(),
        "torch": torch.__version__,
        **extra,
    }


def _cpu_model() -> str | None:
    """The CPU's model name (Linux: /proc/cpuinfo), or None."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return None
