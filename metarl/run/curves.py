"""Training curves read back from a run's TensorBoard events: a table and a PNG.

``metarl curves RUN_DIR [RUN_DIR ...]`` prints, for every run, the chosen scalars at every
``--every``-th meta-iteration (and the last one) as a Markdown table, and draws them against the
meta-iteration (the raw values faint, their trailing mean over ``--smooth`` iterations solid).
For RL runs the default scalars are the average training-task return before and after
adaptation (``train/return_pre``, ``train/return_post``): the MAML paper's learning curve.

Events are read with TensorBoard's own reader, which applies the purge a resumed run asks for, so
a run interrupted and resumed reads as one uninterrupted series.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

Series = list[tuple[int, float]]
"""``[(step, value), ...]`` in step order."""

RL_TAGS: tuple[str, ...] = ("train/return_pre", "train/return_post")
SUPERVISED_TAGS: tuple[str, ...] = ("outer/query_loss_pre", "outer/query_loss_post")


def read_scalars(run_dir: str | Path) -> dict[str, Series]:
    """Every scalar series in ``run_dir``'s event files, as ``tag -> [(step, value), ...]``.

    Raises:
        ValueError: ``run_dir`` holds no TensorBoard scalars.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    # A resumed run's purge is logged as a warning about "out of order" steps; it is expected.
    tensorboard_logger = logging.getLogger("tensorboard")
    level = tensorboard_logger.level
    tensorboard_logger.setLevel(logging.ERROR)
    try:
        accumulator.Reload()
    finally:
        tensorboard_logger.setLevel(level)
    scalars = {
        tag: [(event.step, event.value) for event in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }
    if not scalars:
        raise ValueError(
            f"{run_dir} holds no TensorBoard scalars; pass a run folder written by metarl train"
        )
    return scalars


def default_tags(scalars: dict[str, Series]) -> tuple[str, ...]:
    """The before/after-adaptation curve of an RL run, or the query losses of a supervised one."""
    for tags in (RL_TAGS, SUPERVISED_TAGS):
        if all(tag in scalars for tag in tags):
            return tags
    raise ValueError(
        "the run has neither the RL returns train/return_pre, train/return_post nor the "
        "supervised query losses; name the scalars with --tags"
    )


def trailing_mean(values: Sequence[float], window: int) -> np.ndarray:
    """Mean of each value and the ``window - 1`` before it (fewer at the start)."""
    array = np.asarray(values, dtype=float)
    sums = np.cumsum(np.concatenate([[0.0], array]))
    ends = np.arange(1, len(array) + 1)
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


def curves_table(runs: dict[str, dict[str, Series]], tags: Sequence[str], every: int) -> str:
    """Markdown table: a row per ``every``-th step (plus each run's last), a column per run and
    tag; a run without a value at that step gets an empty cell."""
    steps: set[int] = set()
    for scalars in runs.values():
        for tag in tags:
            tag_steps = [step for step, _ in scalars[tag]]
            steps.update(step for step in tag_steps if step % every == 0 or step == 1)
            steps.add(tag_steps[-1])
    columns = [(label, tag) for label in runs for tag in tags]
    header = "| meta-iteration | " + " | ".join(f"{label} {tag}" for label, tag in columns) + " |"
    rows = [header, "|---:|" + "---:|" * len(columns)]
    lookup = {(label, tag): dict(runs[label][tag]) for label, tag in columns}
    for step in sorted(steps):
        cells = [lookup[column].get(step) for column in columns]
        text = ["" if value is None else f"{value:.1f}" for value in cells]
        rows.append(f"| {step} | " + " | ".join(text) + " |")
    return "\n".join(rows)


def plot_curves(
    runs: dict[str, dict[str, Series]], tags: Sequence[str], path: str | Path, smooth: int
) -> Path:
    """One panel per run; each tag's raw values faint and their trailing mean solid."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.5 * len(runs), 4.0), layout="constrained")
    FigureCanvasAgg(figure)
    axes_list = figure.subplots(1, len(runs), squeeze=False)[0]
    for axes, (label, scalars) in zip(axes_list, runs.items(), strict=True):
        for index, tag in enumerate(tags):
            steps, values = zip(*scalars[tag], strict=True)
            color = f"C{index}"
            axes.plot(steps, values, color=color, alpha=0.25, linewidth=0.8)
            axes.plot(steps, trailing_mean(values, smooth), color=color, label=tag)
        axes.set_title(label)
        axes.set_xlabel("meta-iteration")
        axes.grid(alpha=0.3)
        axes.legend()
    path = Path(path)
    figure.savefig(path, dpi=120)
    return path


def add_curves(subparsers: Any) -> None:
    """Register ``metarl curves`` on the ``metarl`` command's subparsers."""
    parser = subparsers.add_parser(
        "curves",
        help="training curves of runs from their TensorBoard events (table and PNG)",
        description="Print the chosen scalars of each RUN_DIR every --every meta-iterations as a "
        "Markdown table and draw them into --out. RL runs default to the training-task return "
        "before and after adaptation.",
    )
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders")
    parser.add_argument("--tags", nargs="+", help="scalar names (default: see above)")
    parser.add_argument("--every", type=int, default=50, help="table row spacing")
    parser.add_argument("--smooth", type=int, default=10, help="trailing-mean window of the plot")
    parser.add_argument("--out", metavar="PNG", help="write the plot here (default: no plot)")
    parser.set_defaults(handler=run_curves)


def run_curves(args: argparse.Namespace) -> int:
    from metarl.errors import fail

    try:
        if args.every < 1 or args.smooth < 1:
            raise ValueError(f"--every and --smooth must be >= 1, got {args.every}, {args.smooth}")
        runs: dict[str, dict[str, Series]] = {}
        for run_dir in args.run_dirs:
            if not Path(run_dir).is_dir():
                raise ValueError(f"{run_dir}: no such run folder")
            scalars = read_scalars(run_dir)
            tags = args.tags or default_tags(scalars)
            missing = [tag for tag in tags if tag not in scalars]
            if missing:
                raise ValueError(
                    f"{run_dir} has no scalar {missing[0]!r}; `tensorboard --logdir {run_dir}` "
                    f"lists its {len(scalars)} scalars (e.g. {', '.join(sorted(scalars)[:3])})"
                )
            runs[Path(run_dir).name] = scalars
    except ValueError as error:
        return fail(str(error))
    print(curves_table(runs, tags, args.every))
    if args.out:
        print(f"plot written to {plot_curves(runs, tags, args.out, args.smooth)}")
    return 0
