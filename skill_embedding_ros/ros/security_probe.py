"""Can this machine's ROS 2 run a node under enforced DDS security? Measured, not assumed: a
fresh keystore, one real enclave from the permissions table, and a child process that creates
a node with it (ROS_SECURITY_ENABLE=true, Enforce). A second child without the security
variables is the control, so a broken rclpy is not mistaken for missing security plugins.

Used by scripts/check_dds_security.py (the verdict) and by the tests that need security (their
skip reason), so both report the same measurement. It lives with the nodes because its
children run rclpy; importing it loads no ROS module.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass

from skill_embedding_ros.security.keystore import generate_keystore, security_environment
from skill_embedding_ros.security.permissions import grant, parse_domains

_CHILD = """
import rclpy
from std_msgs.msg import UInt8MultiArray
rclpy.init()
try:
    node = rclpy.create_node("learner")
    node.create_publisher(UInt8MultiArray, "/policy_weights", 1)
    print("NODE_OK", flush=True)
    node.destroy_node()
finally:
    rclpy.shutdown()
"""
MISSING_PLUGINS = "doesn't have the security libraries"
"""What rmw_fastrtps says when its Fast DDS was built without -DSECURITY=ON."""


@dataclass(frozen=True)
class Probe:
    available: bool
    """A node ran under Enforce with a valid keystore."""
    control_ok: bool
    """The same child without security created its node (rclpy itself works)."""
    returncode: int
    error: str
    """The secure child's error lines (empty when available)."""

    @property
    def verdict(self) -> str:
        if self.available:
            return "DDS security AVAILABLE: a node ran under ROS_SECURITY_STRATEGY=Enforce"
        if not self.control_ok:
            return "UNDECIDED: even a node without security failed; rclpy does not work here"
        if MISSING_PLUGINS in self.error:
            return "DDS security NOT AVAILABLE: this Fast DDS has no security plugins"
        return "DDS security FAILED: a secure node did not start (see the error)"


def _run(env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            [sys.executable, "-c", _CHILD],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as err:
        out = err.stdout.decode() if isinstance(err.stdout, bytes) else err.stdout or ""
        return subprocess.CompletedProcess(err.cmd, 124, out, f"timed out after {timeout} s")


def _error_lines(stderr: str) -> str:
    """The lines that say why (rclpy's RCLError and rmw's message), without the traceback."""
    keep = [
        line.strip()
        for line in stderr.splitlines()
        if line.strip() and not line.startswith((" ", "Traceback", "  File"))
    ]
    return "\n".join(keep[-4:])


def probe_security(domain: int = 97, timeout: float = 60.0) -> Probe:
    """Run the two children on ROS_DOMAIN_ID `domain`, discovery kept on this host."""
    base = dict(os.environ)
    for key in list(base):
        if key.startswith("ROS_SECURITY_"):
            del base[key]
    base.update(ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    learner = grant("learner")
    with tempfile.TemporaryDirectory(prefix="keystore_") as keystore:
        generate_keystore(keystore, [learner], parse_domains(str(domain)))
        secure = _run({**base, **security_environment(keystore, learner.enclave)}, timeout)
    control = _run(base, timeout)
    available = secure.returncode == 0 and "NODE_OK" in secure.stdout
    return Probe(
        available=available,
        control_ok=control.returncode == 0 and "NODE_OK" in control.stdout,
        returncode=secure.returncode,
        error="" if available else _error_lines(secure.stderr),
    )
