"""Ctrl-C (SIGINT) during training stops the run at the end of the running iteration.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be, and inside compiled
code (torch.compile's generated kernels, C++ extensions) the exception can be dropped without a
trace, so the run trains on as if nothing had been pressed. Instead, the first SIGINT only sets a
flag that the training loop reads after each iteration: the run checkpoints that iteration and
stops with ``KeyboardInterrupt`` at a point where nothing is half done. A second SIGINT raises
at once, for an iteration that takes too long to wait for.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class StopRequest:
    """Whether SIGINT asked the run to stop at the end of the running iteration."""

    def __init__(self) -> None:
        self.requested = False

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print(
            "\ninterrupt: stopping after this iteration (Ctrl-C again to stop at once)",
            file=sys.stderr,
            flush=True,
        )


@contextmanager
def stop_at_iteration_end(enabled: bool = True) -> Iterator[StopRequest]:
    """Defer SIGINT to the caller's checks of ``requested`` while the block runs.

    Disabled (``enabled=False``, off the main thread, where no signal handler can be set, or
    where SIGINT is ignored, as for a job a shell started in the background), SIGINT keeps its
    behaviour and ``requested`` stays false.
    """
    request = StopRequest()
    main_thread = threading.current_thread() is threading.main_thread()
    if not (enabled and main_thread) or signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        yield request
        return
    previous = signal.signal(signal.SIGINT, request.handle)
    try:
        yield request
    finally:
        signal.signal(signal.SIGINT, previous)
