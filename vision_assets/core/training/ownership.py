"""One live attempt owns a training work folder (`runs/<fingerprint>/`), and only its owner writes the outputs.

Killing a run worker can leave its training step running as an orphan while the retry resumes in the same folder:
both appended to one results.csv and last.pt, and the orphan's record won. Now an attempt takes the folder's lock
(`runs/<fingerprint>.lock`, an OS lock the kernel releases when its process dies, so a stale lock is taken over only
when its owner is dead) and writes its identity beside it (`<fingerprint>.owner.json`: host, pid, process start,
run id, since, and a fencing token one higher than the previous owner's). A retry that finds the lock held waits for
the owner to stop (an orphan notices its run is over at its next epoch and stops) and fails with the owner's
identity if it does not. Before it writes the record and its outputs, an attempt checks that the token on disk is
still its own; a stale one stops instead (AttemptSuperseded).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from vision_assets.core.lake.atomic import atomic_write_bytes
from vision_assets.core.processes import process_identity

WAIT_FOR_OWNER_S = 600.0  # an orphan stops at its next epoch; longer than that and the retry fails (and is retried)


class WorkFolderBusy(RuntimeError):
    """Another live attempt owns the work folder."""


class AttemptSuperseded(RuntimeError):
    """This attempt no longer owns its work folder, or its run is over: it must stop without writing anything."""


@dataclass(frozen=True)
class Owner:
    process: str  # host/pid/start
    run_id: str
    token: int
    since: str

    def describe(self) -> str:
        host, pid, _ = self.process.split("/")
        return f"pid {pid} on {host} (run {self.run_id}, token {self.token}, since {self.since})"


def owner_path(run_dir: Path) -> Path:
    return run_dir.parent / f"{run_dir.name}.owner.json"


def read_owner(run_dir: Path) -> Owner | None:
    try:
        return Owner(**json.loads(owner_path(run_dir).read_text()))
    except (OSError, ValueError, TypeError):
        return None


@dataclass
class Ownership:
    run_dir: Path
    owner: Owner
    previous: Owner | None

    def check(self) -> None:
        """Raise AttemptSuperseded unless the token on disk is still this attempt's (fencing before each write)."""
        current = read_owner(self.run_dir)
        if current is None or current.token != self.owner.token or current.process != self.owner.process:
            raise AttemptSuperseded(f"{self.run_dir.name}: taken over by "
                                    f"{current.describe() if current else 'nobody (owner file gone)'}; this attempt "
                                    f"(token {self.owner.token}) stops without writing")


@contextlib.contextmanager
def own_work_folder(run_dir: Path, run_id: str, *, wait_s: float = WAIT_FOR_OWNER_S, poll_s: float = 1.0,
                    log: Callable[[str], None] = lambda _: None) -> Iterator[Ownership]:
    """Hold run_dir for this attempt until the block ends (see the module doc)."""
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    handle = open(run_dir.parent / f"{run_dir.name}.lock", "a+")  # noqa: SIM115 - held for the whole block
    try:
        _lock(handle, run_dir, wait_s, poll_s, log)
        previous = read_owner(run_dir)
        if previous is not None:
            log(f"{run_dir.name}: taking over from {previous.describe()}, whose process is gone")
        owner = Owner(process_identity(os.getpid()) or f"{socket.gethostname()}/{os.getpid()}/?", run_id,
                      (previous.token if previous else 0) + 1, datetime.now(UTC).isoformat(timespec="seconds"))
        atomic_write_bytes(owner_path(run_dir), json.dumps(asdict(owner), indent=2).encode())
        yield Ownership(run_dir, owner, previous)
    finally:
        handle.close()  # releases the lock


def _lock(handle, run_dir: Path, wait_s: float, poll_s: float, log: Callable[[str], None]) -> None:
    deadline, told = time.monotonic() + wait_s, False
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            owner = read_owner(run_dir)
            if not told:
                log(f"{run_dir.name}: owned by {owner.describe() if owner else 'another process'}; waiting for it "
                    "to stop (an orphaned attempt stops at its next epoch)")
                told = True
            if time.monotonic() >= deadline:
                raise WorkFolderBusy(
                    f"training work folder {run_dir} is still in use by "
                    f"{owner.describe() if owner else 'another process'} after {wait_s:.0f} s; this attempt does not "
                    "write into it (it is retried later; end that process if it should not run)") from None
            time.sleep(poll_s)
