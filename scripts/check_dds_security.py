"""Does this machine's ROS 2 (Fast DDS) have DDS security? Prints a one-line verdict and the
error text, then the evidence in the shared libraries.

    .venv/bin/python scripts/check_dds_security.py [--domain 97]

What it does (skill_embedding_ros/ros/security_probe.py): generates an SROS2 keystore with the
learner's enclave, starts a child process that creates a node with ROS_SECURITY_ENABLE=true,
ROS_SECURITY_STRATEGY=Enforce and that enclave, and a control child without security. Then it
looks into the loaded libraries: librmw_fastrtps_shared_cpp carries the "doesn't have the
security libraries" message only when built against a Fast DDS without security, and a Fast DDS
built with -DSECURITY=ON carries its builtin plugins' names (builtin.PKI-DH, ...).

Exit code: 0 security available, 1 not available, 2 undecided (rclpy itself failed).
Why a script and not only a test: the answer decides which protection holds on a machine
(docs/security.md), so an operator should be able to ask it anywhere.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

from skill_embedding_ros.ros.security_probe import MISSING_PLUGINS, probe_security  # noqa: E402

PLUGINS = (b"builtin.PKI-DH", b"builtin.Access-Permissions", b"builtin.AES-GCM-GMAC")


def _libraries() -> list[Path]:
    """The Fast DDS and rmw_fastrtps libraries of this Python's ROS 2 (pip wheels put them in
    <prefix>/lib; a ROS 2 install in /opt/ros/<distro>/lib)."""
    found = []
    for lib in [Path(sys.prefix) / "lib", *sorted(Path("/opt/ros").glob("*/lib"))]:
        for pattern in ("libfastdds.so", "libfastrtps.so", "librmw_fastrtps_shared_cpp.so"):
            path = lib / pattern
            if path.is_file():
                found.append(path.resolve())
    return found


def library_evidence() -> list[str]:
    lines = []
    for path in _libraries():
        data = path.read_bytes()
        if "rmw_fastrtps" in path.name:
            has = MISSING_PLUGINS.encode() in data
            lines.append(f"{path}: {'has' if has else 'lacks'} the message {MISSING_PLUGINS!r}")
        else:
            names = [p.decode() for p in PLUGINS if p in data]
            lines.append(f"{path}: security plugin names present: {names or 'none'}")
    return lines or ["no Fast DDS library found under this Python's prefix or /opt/ros"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--domain", type=int, default=97, help="ROS_DOMAIN_ID for the probe")
    args = parser.parse_args(argv)
    try:
        probe = probe_security(args.domain)
    except RuntimeError as err:  # cryptography missing
        print(f"UNDECIDED: {err}")
        return 2
    print(probe.verdict)
    if probe.error:
        print(f"error (exit {probe.returncode}): " + probe.error.replace("\n", "\n  "))
    print("evidence in the libraries:")
    for line in library_evidence():
        print(f"  {line}")
    if probe.available:
        return 0
    return 1 if probe.control_ok else 2


if __name__ == "__main__":
    sys.exit(main())
