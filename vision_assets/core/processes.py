"""Which process is which: a host/pid/start-time identity that a reused pid cannot pass for, and whether the
process it names is still alive. Used for run workers (local runtime) and the owners of training work folders."""

from __future__ import annotations

import socket
from pathlib import Path


def process_identity(pid: int) -> str | None:
    """host/pid/start time (clock ticks since boot); the start time keeps a reused pid from passing for the process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    started = stat.rsplit(")", 1)[1].split()[19]  # field 22 (starttime), counted after the command name
    return f"{socket.gethostname()}/{pid}/{started}"


def identity_alive(identity: str) -> bool | None:
    """True/False for a process of this host; None when it ran elsewhere (this host cannot tell)."""
    host, _, rest = identity.partition("/")
    if host != socket.gethostname():
        return None
    return process_identity(int(rest.split("/")[0])) == identity
