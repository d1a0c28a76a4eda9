"""Checkpoints that survive a crash at any moment and load without unpickling arbitrary code.

A checkpoint is written to a temporary file in the same folder, flushed to disk, and renamed
over the previous one (:func:`os.replace` is atomic on POSIX and Windows), so a run killed while
writing leaves the last complete checkpoint in place. Files hold only tensors and plain Python
values and are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from metarl.errors import CheckpointError

FORMAT_KEY = "metarl_checkpoint"
"""Marks a file as a metarl checkpoint; the value is the format version."""
FORMAT_VERSION = 1


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Atomically write ``state`` (tensors, numbers, strings, lists, dicts) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as file:
            torch.save({FORMAT_KEY: FORMAT_VERSION, **state}, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(folder: Path) -> None:
    """Persist the rename itself (POSIX); folders cannot be opened this way on Windows."""
    if os.name != "posix":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (``torch.load(weights_only=True)``).

    Raises:
        CheckpointError: the file is missing, unreadable, truncated, or not a metarl checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {str(path)!r} does not exist; pass a run folder that has trained at "
            "least one checkpoint interval (logging.checkpoint_every)"
        )
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    # A damaged file can fail anywhere in the unpickler (KeyError, EOFError, RuntimeError, ...).
    except Exception as error:
        raise CheckpointError(
            f"checkpoint {str(path)!r} is corrupt or truncated ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else 'no details'}); "
            "restore it from a copy or start a new run"
        ) from None
    if not isinstance(state, dict) or state.get(FORMAT_KEY) != FORMAT_VERSION:
        raise CheckpointError(
            f"{str(path)!r} is not a metarl checkpoint (format {FORMAT_VERSION}); "
            "pass the checkpoint.pt of a metarl run folder"
        )
    return {key: value for key, value in state.items() if key != FORMAT_KEY}
