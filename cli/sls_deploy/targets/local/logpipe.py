"""The log pipe of a worker: its process's merged stdout/stderr, read without blocking by whoever drives the
worker. Side effects: reads (and closes) the pipe it is given; enlarges its buffer.
"""

from __future__ import annotations

import contextlib
import fcntl
import os

PIPE_BYTES = 1 << 20  # the log pipe's buffer: output written while idle waits here for the next invocation
# The log pipe is not polled during an invocation (every wake-up for a log line would cost the caller); it is
# drained when the answer is in and whenever the runtime has been silent this long, so a function printing
# more than the pipe holds stalls at most this long.
LOG_DRAIN_INTERVAL_S = 0.05
_READ_BYTES = 1 << 16


class LogPipe:
    """The worker's merged stdout/stderr, read without blocking by whoever drives the worker."""

    def __init__(self, stream: object, fd: int) -> None:
        self._stream = stream  # the pipe's file object, kept to close it
        self.fd = fd
        os.set_blocking(fd, False)
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        self._lines: list[str] = []
        self._partial = b""
        self.eof = False

    def drain(self) -> None:
        """Read what the pipe holds now (one read when it holds less than a read's size)."""
        while not self.eof:
            try:
                chunk = os.read(self.fd, _READ_BYTES)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self.eof = True
                if self._partial:
                    self._lines.append(self._partial.decode("utf-8", "replace"))
                    self._partial = b""
                return
            *complete, self._partial = (self._partial + chunk).split(b"\n")
            self._lines.extend(line.decode("utf-8", "replace") for line in complete)
            if len(chunk) < _READ_BYTES:
                return

    def take(self) -> list[str]:
        """The complete lines read so far (after one more drain)."""
        self.drain()
        lines, self._lines = self._lines, []
        return lines

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._stream.close()  # type: ignore[attr-defined]
