"""Background WAL checkpoints for the correlation store.

With ``synchronous=NORMAL`` a WAL checkpoint copies committed pages into the
database file and fsyncs it; done by the writer (SQLite's autocheckpoint) that
wait lands on whichever batch happens to cross the threshold.  `Checkpointer`
runs ``PRAGMA wal_checkpoint(PASSIVE)`` on its own connection in a daemon
thread instead, every `interval` seconds or sooner when the writer reports that
``pages`` WAL frames were committed.  SQLite releases the GIL while it copies
and syncs, so batches keep being evaluated meanwhile.  PASSIVE never blocks the
writer or readers; the writer keeps a larger autocheckpoint as a backstop in
case this thread falls behind.  Durability is unchanged: a commit is in the WAL
either way.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger("faultd.correlate")


class Checkpointer:
    """A thread that checkpoints one database's WAL in the background."""

    def __init__(self, path: Path, *, pages: int = 4096, interval: float = 1.0) -> None:
        self._path = path
        self._pages = pages
        self._interval = interval
        self._wake = threading.Event()
        self._stop = False
        self._committed = 0
        self.checkpoints = 0
        self._thread = threading.Thread(target=self._run, name="correlate-ckpt", daemon=True)
        self._thread.start()

    def committed(self, frames: int) -> None:
        """Called by the writer after a commit that appended about `frames` WAL frames."""
        self._committed += frames
        if self._committed >= self._pages:
            self._committed = 0
            self._wake.set()

    def _run(self) -> None:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA synchronous=NORMAL")
            while not self._stop:
                self._wake.wait(self._interval)
                self._wake.clear()
                if self._stop:
                    break
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += 1
                except sqlite3.Error as exc:  # busy or I/O: the writer's backstop still runs
                    log.warning("background WAL checkpoint failed: %s", exc)
        finally:
            db.close()

    def close(self) -> None:
        """Stop the thread (after a checkpoint in progress)."""
        self._stop = True
        self._wake.set()
        self._thread.join()
