"""TensorBoard logging with grouped scalar names (``outer/``, ``inner/``, ``eval/``, ``perf/``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from matplotlib.figure import Figure
from torch import Tensor
from torch.utils.tensorboard import SummaryWriter


class RunLogger:
    """Writes a run's scalars and histograms as TensorBoard event files in ``run_dir``.

    Args:
        run_dir: the run folder; event files go directly into it.
        enabled: ``False`` makes every call a no-op (non-zero ranks of a distributed run).
        purge_step: when resuming from a checkpoint taken after ``purge_step - 1`` iterations,
            TensorBoard hides the events the interrupted run wrote at ``purge_step`` and later,
            so the resumed run's values replace them instead of being duplicated.
    """

    def __init__(
        self, run_dir: str | Path, enabled: bool = True, purge_step: int | None = None
    ) -> None:
        self.enabled = enabled
        self._writer = SummaryWriter(str(run_dir), purge_step=purge_step) if enabled else None

    def log_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        """Write each ``name: value`` at global step ``step`` (values already Python floats)."""
        if self._writer is None:
            return
        for name, value in scalars.items():
            self._writer.add_scalar(name, value, step)

    def log_histogram(self, step: int, name: str, values: Tensor) -> None:
        if self._writer is None:
            return
        self._writer.add_histogram(name, values.detach().cpu(), step)

    def log_figure(self, step: int, name: str, figure: Figure) -> None:
        """A matplotlib figure as an image (for instance return against the task parameter)."""
        if self._writer is None:
            return
        self._writer.add_figure(name, figure, step)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
