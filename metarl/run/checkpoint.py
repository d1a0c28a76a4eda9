"""Checkpoints that survive a crash at any moment and load without unpickling arbitrary code.

A checkpoint is written to a temporary file in the same folder, flushed to disk, and renamed
over the previous one (:func:`os.replace` is atomic on POSIX and Windows), so a run killed while
writing leaves the last complete checkpoint in place. Files hold only tensors and plain Python
values and are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import tempfile
import warnings
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
        CheckpointError: the file is missing, unreadable, truncated, holds objects other than
            tensors and plain data (a pickled class or function: it is not loaded), or is not a
            metarl checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {str(path)!r} does not exist; pass a run folder that has trained at "
            "least one checkpoint interval (logging.checkpoint_every)"
        )
    try:
        with warnings.catch_warnings():
            # A damaged file can look like a newer pickle protocol; the error below says enough.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            state = torch.load(path, map_location=map_location, weights_only=True)
    # A damaged file can fail anywhere in the unpickler (KeyError, EOFError, RuntimeError, ...).
    except Exception as error:
        raise _load_error(path, error) from None
    if not isinstance(state, dict) or state.get(FORMAT_KEY) != FORMAT_VERSION:
        raise CheckpointError(
            f"{str(path)!r} is not a metarl checkpoint (format {FORMAT_VERSION}); "
            "pass the checkpoint.pt of a metarl run folder"
        )
    return {key: value for key, value in state.items() if key != FORMAT_KEY}


# torch's weights-only unpickler names a refused class or function as "GLOBAL module.name".
_REFUSED_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
# Lines of torch's weights-only message that advise weights_only=False or filing an issue:
# wrong advice for a file that may be hostile, so they are left out.
_TORCH_ADVICE = ("Weights only load failed", "Please file an issue", "Check the documentation")


def _load_error(path: Path, error: Exception) -> CheckpointError:
    """The message for a checkpoint ``torch.load(weights_only=True)`` could not read."""
    message = str(error)
    if isinstance(error, pickle.UnpicklingError) and "Weights only load failed" in message:
        refused = _REFUSED_GLOBAL.search(message)
        if refused:
            return CheckpointError(
                f"checkpoint {str(path)!r} contains objects other than tensors and plain data "
                f"({refused.group(1)}) and will not be loaded: unpickling it could run code. "
                "metarl checkpoints hold only tensors, numbers, strings, lists and dicts; pass "
                "the checkpoint.pt of a metarl run folder"
            )
        lines = [line.strip() for line in message.splitlines()]
        message = " ".join(line for line in lines if line and not line.startswith(_TORCH_ADVICE))
    detail = message.splitlines()[0] if message else "no details"
    return CheckpointError(
        f"checkpoint {str(path)!r} is corrupt or truncated ({type(error).__name__}: {detail}); "
        "restore it from a copy or start a new run"
    )
