"""A latched e-stop that outlives the process: a small file that exists while it is latched.

A gate that is killed and restarted must not forget an e-stop, or a restart would silently
release it. So latching writes the file (durably: written, synced, renamed) before the stop is
reported, releasing deletes it, and a gate that finds the file at start starts latched. Whatever
sits at that path counts as latched, even if unreadable: failing safe beats a lost latch.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from skill_embedding_ros.data.durable import fsync_dir


def latch_path(template: str, node_name: str) -> Path | None:
    """The file for `node_name` (a full ROS name, e.g. /actor_0/safety_gate), or None when
    `template` is empty (no persistence). `{node}` in the template becomes the name with its
    slashes as underscores; `~` is the home directory."""
    if not template:
        return None
    node = node_name.strip("/").replace("/", "_") or "gate"
    return Path(template.replace("{node}", node)).expanduser()


class EstopLatch:
    """The persistent latch at `path` (None: in memory only)."""

    def __init__(self, path: Path | None):
        self.path = path

    def is_latched(self) -> bool:
        return self.path is not None and os.path.lexists(self.path)

    def reason(self) -> str:
        """What the file says (when and why it was latched), for the log."""
        if not self.is_latched():
            return ""
        try:
            return self.path.read_text(encoding="utf-8", errors="replace").strip()[:200]
        except OSError as err:
            return f"unreadable ({err.strerror}); treated as latched"

    def latch(self, why: str) -> None:
        """Persist the latch; raises OSError if it cannot (the caller still latches in memory)."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(f"e-stop latched at {stamp}: {why}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        fsync_dir(self.path.parent)

    def release(self) -> None:
        if self.path is None:
            return
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            return
        fsync_dir(self.path.parent)
