"""Two "hosts" on one machine for tests and experiments: two Linux network namespaces joined by a
veth pair, each with its own address, so DDS discovery and traffic go over a network link and
not over loopback or shared memory (docs/multi_host.md). Needs root and `ip` (iproute2).

    with TwoHosts() as hosts:
        learner = hosts.popen("a", [...], env=env)   # runs inside namespace a
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

SUBNET = "10.231.{}.{}"


def unavailable() -> str | None:
    """Why two namespaces cannot be made here (None: they can)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    if shutil.which("ip") is None:
        return "needs `ip` (iproute2)"
    probe = f"se_probe_{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot make a network namespace: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


@dataclass
class TwoHosts:
    """Namespaces `a` and `b` (10.231.<net>.1 and .2 on one veth pair), removed on exit."""

    net: int = 0
    """Third octet of the link's /24: runs side by side need different ones."""

    def __post_init__(self):
        tag = f"{os.getpid()}_{self.net}"
        self.names = {"a": f"se_a_{tag}", "b": f"se_b_{tag}"}
        self.addresses = {"a": SUBNET.format(self.net, 1), "b": SUBNET.format(self.net, 2)}

    def __enter__(self) -> TwoHosts:
        a, b = self.names["a"], self.names["b"]
        link = {"a": f"vse_a{self.net}", "b": f"vse_b{self.net}"}
        try:
            for name in (a, b):
                _ip("netns", "add", name)
            peer = ("peer", link["b"], "netns", b)
            _ip("link", "add", link["a"], "netns", a, "type", "veth", *peer)
            for host, name in self.names.items():
                _ip("-n", name, "link", "set", "lo", "up")
                _ip("-n", name, "addr", "add", f"{self.addresses[host]}/24", "dev", link[host])
                _ip("-n", name, "link", "set", link[host], "up", "multicast", "on")
                # DDS discovery is multicast (239.255.0.1): route it over the link.
                _ip("-n", name, "route", "add", "224.0.0.0/4", "dev", link[host])
        except RuntimeError:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        for name in self.names.values():  # deleting a namespace deletes its end of the pair
            subprocess.run(["ip", "netns", "del", name], capture_output=True)

    def sent_bytes(self, host: str) -> int:
        """Bytes `host` has sent over the link so far."""
        link = f"vse_{host}{self.net}"
        stats = subprocess.run(
            self.command(host, ["cat", f"/sys/class/net/{link}/statistics/tx_bytes"]),
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return int(stats.stdout)

    def command(self, host: str, argv: list[str]) -> list[str]:
        """`argv` as run inside namespace `host` ("a" or "b")."""
        return ["ip", "netns", "exec", self.names[host], *argv]

    def popen(self, host: str, argv: list[str], **kwargs) -> subprocess.Popen:
        return subprocess.Popen(self.command(host, argv), **kwargs)


def network_env(env: dict[str, str]) -> dict[str, str]:
    """A node environment whose DDS talks over the network: discovery beyond localhost and UDP
    only (Fast DDS would otherwise use shared memory between processes of one machine)."""
    return {
        **env,
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET",
        "FASTDDS_BUILTIN_TRANSPORTS": "UDPv4",
    }
