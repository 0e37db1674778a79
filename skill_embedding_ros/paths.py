"""Where the package's data folders (config/, urdf/) live: beside the package in a source
checkout or a pip editable install, or under share/skill_embedding_ros in a colcon install."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CANDIDATES = (
    _PACKAGE.parent,  # repo root (source checkout, pip install -e)
    # <prefix>/lib/pythonX.Y/site-packages/skill_embedding_ros -> <prefix>/share/<package>
    _PACKAGE.parent.parent.parent.parent / "share" / "skill_embedding_ros",
)


def data_dir(name: str) -> Path:
    """The folder `name` (e.g. "config", "urdf") of this package's data."""
    for root in _CANDIDATES:
        if (root / name).is_dir():
            return root / name
    return _CANDIDATES[0] / name  # lets errors name the expected place
