"""Making writes survive a crash: a file's data and a directory's entries (a rename, an unlink)
reach the disk only once synced. Used by the replay store, the e-stop latch and checkpoints."""

from __future__ import annotations

import os
from pathlib import Path


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    fsync(path)  # makes renames and unlinks inside it durable
