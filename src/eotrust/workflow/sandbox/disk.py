"""The disk floor of a sandboxed step: a step may write files of at most ``file_mb`` each
(RLIMIT_FSIZE), but as many as it likes, so a hostile service could fill the platform's disk —
where its node journal, chain and catalogue live — or use up its inodes with empty files. A
:class:`DiskFloor` watches the filesystem of the step's working directory while the step runs
(``statvfs``, ten times a second: no directory walk) and kills the step as soon as less than the
platform's reserve (``min_free_disk_mb``) or fewer than :data:`MIN_FREE_INODES` (or 1 %) of its
inodes are left; the step fails naming the limit, and its working directory is deleted as usual."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from eotrust.disk import free_bytes

#: How often the floor is checked: a step writing at 1 GB/s goes at most ~100 MB below it.
INTERVAL_S = 0.1
#: Inodes always left free (or 1 % of the filesystem's, whichever is more).
MIN_FREE_INODES = 10_000


class DiskFloor:
    """Kill what runs while ``directory``'s filesystem has less than ``keep_mb`` MiB free."""

    def __init__(self, directory: Path, keep_mb: int) -> None:
        self.directory, self.keep_mb = directory, keep_mb
        self.broken: str | None = None

    def check(self) -> str | None:
        """The sentence naming the floor broken now, or None."""
        st = os.statvfs(self.directory)
        free = st.f_bavail * st.f_frsize
        if free < self.keep_mb * 1024 * 1024:
            return (
                f"sandbox limit broken: disk (the step's writes left {free >> 20} MiB free on the platform's disk, "
                f"which keeps {self.keep_mb} MiB); the step was killed"
            )
        if st.f_files and st.f_favail < max(MIN_FREE_INODES, st.f_files // 100):
            return (
                f"sandbox limit broken: files (the step's files left {st.f_favail} of {st.f_files} inodes free "
                "on the platform's disk); the step was killed"
            )
        return None

    def room_for(self, nbytes: int) -> str | None:
        """None if ``nbytes`` more can be written and leave the floor; else why not (a step's
        output, about to be copied into the store)."""
        free = free_bytes(self.directory)
        if free - nbytes < self.keep_mb * 1024 * 1024:
            return (
                f"sandbox limit broken: disk (storing it, {nbytes >> 20} MiB, would leave {max(free - nbytes, 0) >> 20} MiB "
                f"free on the platform's disk, which keeps {self.keep_mb} MiB); not stored"
            )
        return None

    @contextmanager
    def watch(self, kill: Callable[[], None]) -> Iterator[None]:
        """Check now and every :data:`INTERVAL_S` until the block ends; on the first broken
        floor, remember why (:attr:`broken`) and call ``kill``."""
        stop = threading.Event()

        def loop() -> None:
            while True:
                why = self.check()
                if why is not None:
                    self.broken = why
                    kill()
                    return
                if stop.wait(INTERVAL_S):
                    return

        watcher = threading.Thread(target=loop, name="eotrust-disk-floor", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            stop.set()
            watcher.join()


def watching(floor: DiskFloor | None, kill: Callable[[], None]) -> AbstractContextManager[None]:
    """``floor.watch(kill)``, or nothing to watch when the step has no floor (not sandboxed)."""
    return floor.watch(kill) if floor is not None else contextlib.nullcontext()
