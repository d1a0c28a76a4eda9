"""The project's errors, and the one place where NaN and inf are caught.

Every mistake a user can make is one of these, raised before any work starts (config, checkpoint)
or at the exact quantity where a non-finite number first appears (:class:`NonFiniteError`); the
CLI turns each into one ``error: ...`` line. The finiteness checks cost one host synchronisation
each, which is why they sit only where a value decides control flow: before an update is applied.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor


EXIT_INPUT_ERROR = 2
"""The exit status of a command given a wrong input (config, flag, folder, checkpoint)."""


def fail(message: str) -> int:
    """Print ``error: message`` on stderr; return :data:`EXIT_INPUT_ERROR`."""
    print(f"error: {message}", file=sys.stderr)
    return EXIT_INPUT_ERROR


class ConfigError(ValueError):
    """A config key, type or value is wrong; the message names the key and what would be valid."""


class CheckpointError(ValueError):
    """A checkpoint is missing, truncated, corrupt, unsafe or not a metarl checkpoint."""


class NonFiniteError(FloatingPointError):
    """A loss, advantage or gradient became NaN or infinite; the update that would carry it was
    not applied, and the message names where the value first appeared."""


def check_finite(
    name: str, tensor: Tensor, hint: str, labels: Sequence[str] = ("t", "task", "episode", "dim")
) -> None:
    """Raise :class:`NonFiniteError` naming ``name`` and the first non-finite entry of ``tensor``
    (its index, labelled by ``labels`` dimension by dimension), with ``hint`` on its cause."""
    import torch  # here, so that the CLI can name these errors without loading torch

    finite = torch.isfinite(tensor)
    if bool(finite.all()):
        return
    bad = (~finite).nonzero()[0].tolist()
    where = ", ".join(f"{label}={i}" for label, i in zip(labels, bad, strict=False))
    raise NonFiniteError(f"{name} is {tensor[tuple(bad)].item()} at [{where}]: {hint}")


def first_non_finite(named: Mapping[str, Tensor]) -> str | None:
    """The first of ``named`` (in order) holding a NaN or inf, with how many entries are bad;
    ``None`` if all are finite. Only called once something is known to be wrong."""
    import torch

    for name, values in named.items():
        bad = int((~torch.isfinite(values)).sum())
        if bad:
            return f"non-finite {name} ({bad} of {values.numel()} entries)"
    return None


def require_finite(
    loss: Tensor, grad_norm: Tensor, describe: Callable[[], Mapping[str, Tensor]], hint: str
) -> None:
    """Raise :class:`NonFiniteError` unless ``loss`` and ``grad_norm`` are finite.

    One host synchronisation. On failure the message names the first non-finite entry of
    ``describe()``, called only then: per-step support losses, query losses, the loss, each
    gradient (whatever the caller has, in the order the values were computed), so the cause is
    named where it started.
    """
    import torch

    if bool(torch.isfinite(loss) & torch.isfinite(grad_norm)):
        return
    overflow = f"non-finite gradient norm ({float(grad_norm)}, overflow)"
    cause = first_non_finite(describe()) or overflow
    raise NonFiniteError(f"{cause}; the update was not applied. {hint}")
