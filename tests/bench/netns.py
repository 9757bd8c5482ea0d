"""Worker "hosts" on one machine: a network namespace each, on a bridge in a private /24.

Each host has its own network stack, address and host name (its own UTS namespace), and
reaches the others only through its veth pair and the bridge, whose address (``.1``) the root
namespace holds: a PostgreSQL server listening there is reached over that network, never
through a shared file or the loopback. ``cut(host)`` deletes a host's link (a pulled cable).
Needs root and iproute2 (``.ci/run`` installs it); everything made here is named
``pl<tag>…`` and removed by ``close()``.
"""

from __future__ import annotations

import ipaddress
import random
import subprocess
from dataclasses import dataclass
from typing import Any, Sequence


class NamespacesUnavailable(RuntimeError):
    """Network namespaces cannot be made here (not root, no iproute2, no CAP_NET_ADMIN)."""


@dataclass(frozen=True)
class Host:
    name: str  # its host name, as workers report it
    namespace: str
    link: str  # the veth end on the bridge
    address: str


def _ip(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(["ip", *argv], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise NamespacesUnavailable("iproute2's `ip` is not installed (apt-get install iproute2)") from None
    if check and done.returncode != 0:
        raise NamespacesUnavailable(f"ip {' '.join(argv)}: {done.stderr.strip()}")
    return done


def _free_subnet(rng: random.Random) -> ipaddress.IPv4Network:
    """A /24 in 10.200.0.0/13 that no route of this machine overlaps."""
    taken = [ipaddress.ip_network(line.split()[0], strict=False)
             for line in _ip("-4", "route", "show", "table", "all").stdout.splitlines()
             if line and line.split()[0][0].isdigit()]
    for _ in range(50):
        candidate = ipaddress.ip_network(f"10.{rng.randrange(200, 208)}.{rng.randrange(256)}.0/24")
        if not any(candidate.overlaps(t) for t in taken):
            return candidate
    raise NamespacesUnavailable("no free private /24 in 10.200.0.0/13")


class Hosts:
    """``Hosts(3)``: the bridge and three namespaced hosts, made at once; ``close()`` removes them."""

    def __init__(self, count: int, *, seed: int | None = None) -> None:
        rng = random.Random(seed)
        self.tag = f"{rng.randrange(16**4):04x}"
        self.subnet = _free_subnet(rng)
        addresses = list(self.subnet.hosts())
        self.bridge = f"pl{self.tag}br"
        self.bridge_address = str(addresses[0])
        self.hosts = [Host(f"host{i + 1}", f"pl{self.tag}h{i + 1}", f"pl{self.tag}v{i + 1}", str(addresses[10 + i]))
                      for i in range(count)]
        try:
            self._make()
        except Exception:
            self.close()
            raise

    def _make(self) -> None:
        prefix = self.subnet.prefixlen
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.bridge_address}/{prefix}", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for host in self.hosts:
            peer = f"pl{self.tag}p{host.name.removeprefix('host')}"  # the host's end, moved into its namespace
            _ip("netns", "add", host.namespace)
            _ip("link", "add", host.link, "type", "veth", "peer", "name", peer)
            _ip("link", "set", peer, "netns", host.namespace)
            _ip("link", "set", host.link, "master", self.bridge)
            _ip("link", "set", host.link, "up")
            _ip("-n", host.namespace, "addr", "add", f"{host.address}/{prefix}", "dev", peer)
            _ip("-n", host.namespace, "link", "set", peer, "up")
            _ip("-n", host.namespace, "link", "set", "lo", "up")

    def command(self, host: Host, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside ``host``: its namespace, its own host name."""
        return ["ip", "netns", "exec", host.namespace, "unshare", "--uts", "--", "sh", "-c",
                'hostname "$0" && exec "$@"', host.name, *argv]

    def popen(self, host: Host, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen:
        return subprocess.Popen(self.command(host, argv), **kwargs)

    def cut(self, host: Host) -> None:
        """Pull the host's cable: its veth pair is deleted (both ends)."""
        _ip("link", "del", host.link, check=False)

    def close(self) -> None:
        for host in self.hosts:
            _ip("link", "del", host.link, check=False)
            _ip("netns", "del", host.namespace, check=False)
        _ip("link", "del", self.bridge, check=False)

    def __enter__(self) -> Hosts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
