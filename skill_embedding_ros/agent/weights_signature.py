"""Signed weights: an HMAC-SHA256 over the /policy_weights bytes with a key both sides read
from a file. Where DDS security cannot be enforced (the pip wheels' Fast DDS has none,
docs/security.md), this is what stops a process on the domain from feeding the policies weights:
without the key it cannot sign, and a policy with a key adopts only what verifies.

The signature travels in the message's layout, `layout.dim[0].label = "hmac-sha256:<hex>"`, so
`data` stays the plain safetensors bytes every other reader expects.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

PREFIX = "hmac-sha256:"
MIN_KEY_BYTES = 16


def read_key(path: str | Path) -> bytes:
    """The key in `path` (its raw bytes, at least MIN_KEY_BYTES). Make one with
    `head -c 32 /dev/urandom > weights.key && chmod 600 weights.key`."""
    path = Path(path).expanduser()
    try:
        key = path.read_bytes()
    except OSError as err:
        raise ValueError(f"weights_key {path}: {err.strerror}") from None
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(
            f"weights_key {path} holds {len(key)} bytes, fewer than {MIN_KEY_BYTES}: make one "
            "with head -c 32 /dev/urandom > weights.key"
        )
    return key


def sign(data: bytes, key: bytes) -> str:
    """The label that signs `data`."""
    return PREFIX + hmac.new(key, data, hashlib.sha256).hexdigest()


def signature_problem(data: bytes, label: str, key: bytes) -> str | None:
    """Why `label` does not sign `data` under `key` (one line), or None when it does."""
    if not label.startswith(PREFIX):
        return "unsigned (this policy adopts only weights signed with its weights_key)"
    if not hmac.compare_digest(label, sign(data, key)):
        return "bad signature (signed with another key, or altered on the way)"
    return None
