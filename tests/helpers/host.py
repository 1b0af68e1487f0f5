"""Facts about this host that isolation tests need."""

from __future__ import annotations

import subprocess


def host_ipv4_addresses() -> list[str]:
    """This machine's own IPv4 addresses: listeners the sandbox must not reach live here."""
    lines = subprocess.run(
        ["ip", "-4", "-o", "addr", "show"], check=True, capture_output=True, text=True
    ).stdout.splitlines()
    return [line.split()[3].split("/")[0] for line in lines]
