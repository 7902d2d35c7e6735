"""One writer per run folder: an exclusive ``flock`` on ``RUN/lock`` held for a campaign's life.

``evonas run`` and ``evonas resume`` take the lock before they write anything in the folder and
keep it until the campaign ends; a second writer is refused at once (non-blocking), with a message
naming the folder. The kernel drops a ``flock`` when its process dies, so a lock left by a killed
campaign never blocks the next resume. The lock file itself stays (empty) in the folder: removing
it would let two processes lock two different files of the same name. Read-only commands never
take the lock.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from evonas.storage.journal import JournalError

LOCK_FILE = "lock"


class RunInUseError(JournalError):
    """Another process holds the run folder's lock (a campaign is running there)."""


class RunLock:
    """The exclusive lock of one run folder, held from :meth:`acquire` until :meth:`release`.

    Usable as a context manager (``with RunLock(run_dir): ...``).
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> RunLock:
        """Take the lock, or fail at once.

        Raises:
            RunInUseError: another process holds it.
            JournalError: the folder is missing or cannot be written.
        """
        for _ in range(10):  # retried only when the lock file was replaced while we locked it
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                             0o644)
            except OSError as exc:
                raise JournalError(f"{self.run_dir}: cannot lock the run folder for writing "
                                   f"({exc.strerror or exc})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise RunInUseError(
                        f"{self.run_dir}: the run folder is in use by another evonas process "
                        "(a campaign is running there); wait for it to end or stop it") from None
                raise JournalError(f"{self.run_dir}: cannot lock the run folder "
                                   f"({exc.strerror or exc})") from None
            try:
                same = os.stat(self.path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
            except OSError:
                same = False
            if same:
                self._fd = fd
                return self
            os.close(fd)  # the file we locked was removed (a failed start cleaning up): again
        raise RunInUseError(f"{self.run_dir}: the run folder's lock keeps changing; another "
                            "evonas process is using it")

    def release(self, *, remove: bool = False) -> None:
        """Drop the lock; ``remove`` also deletes the lock file (a folder being removed)."""
        if self._fd is None:
            return
        if remove:
            self.path.unlink(missing_ok=True)
        os.close(self._fd)  # closing the descriptor releases the flock
        self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
