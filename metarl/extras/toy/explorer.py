"""``metarl toy``: render the toy explorer's figures and its interactive page in one command.

    python -m metarl.extras.toy --out runs/toy

writes ``curvature.png`` (seed 000), ``imaml_regularisation.png`` (seed 001),
``trajectories.png``, ``meta_gradients.png`` (seed 003's Taylor analysis), ``explorer.html``
(sliders; opens in a browser without a server) and ``summary.json`` (the numbers drawn).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from metarl.extras.toy import comparisons, compute, figures, page
from metarl.extras.toy.tasks import (
    GaussianWellsConfig,
    GaussianWellsProblem,
    GaussianWellsTasks,
    QuadraticConfig,
    QuadraticTasks,
    wells_task,
)


@dataclass(frozen=True)
class ExplorerConfig:
    """Everything the toy explorer draws (the defaults make the README's pictures)."""

    out: str = "runs/toy"
    """Folder for the PNGs, the HTML page and summary.json (created if missing)."""
    seed: int = 0
    """Seed of the torch.Generator that samples the task sets."""
    device: str = "cpu"
    """Torch device of every computation ("cpu", "cuda", "cuda:N")."""
    tasks: int = 32
    """Tasks in the fixed meta-batch of the trajectory and meta-gradient figures."""
    alpha: float = 0.25
    """Inner step size of the trajectory figure."""
    steps: int = 3
    """Inner steps k of the trajectory figure."""
    outer_lr: float = 0.8
    """Outer SGD step size of the trajectory figure (Reptile: outer_lr / (k alpha))."""
    iterations: int = 100
    """Meta-steps of the trajectory figure."""
    start: tuple[float, float] = (-2.0, 3.0)
    """Common start of the meta-parameter trajectories."""
    quadratic: QuadraticConfig = field(
        default_factory=lambda: QuadraticConfig(curvature_min=0.2, curvature_max=2.0)
    )
    """The quadratic task family."""
    wells: GaussianWellsConfig = field(default_factory=GaussianWellsConfig)
    """The non-convex Gaussian-well task family."""

    def __post_init__(self) -> None:
        for name in ("tasks", "steps", "iterations"):
            if getattr(self, name) < 1:
                raise ValueError(f"toy --{name} must be >= 1, got {getattr(self, name)}")
        for name in ("alpha", "outer_lr"):
            if not getattr(self, name) > 0:
                raise ValueError(
                    f"toy --{name.replace('_', '-')} must be > 0, got {getattr(self, name)}"
                )
        try:
            torch.device(self.device)
        except RuntimeError:
            raise ValueError(
                f"toy --device {self.device!r} is not a torch device; use cpu, cuda or cuda:N"
            ) from None
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(
                f"toy --device {self.device}: CUDA is not available here; use --device cpu"
            )


def run(config: ExplorerConfig) -> dict[str, Any]:
    """Compute and write every figure and the page; returns the summary written to JSON."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    device, dtype = torch.device(config.device), torch.float64
    generator = torch.Generator().manual_seed(config.seed)
    quadratic = QuadraticTasks(config.quadratic, device, dtype)
    wells = GaussianWellsTasks(config.wells, device, dtype)
    quadratic_batch = quadratic.sample(config.tasks, generator)
    wells_batch = wells.sample(config.tasks, generator)
    summary: dict[str, Any] = {"config": asdict(config)}
    timings = {}

    started = time.perf_counter()
    summary["curvature"] = figures.curvature_figure(
        curvatures=[
            (0.0, 0.0, 0.0),
            (0.1, 0.05, 0.05),
            (0.4, 0.15, 0.25),
            (1.5, 0.6, 0.8),
            (1.0, 0.0, -0.6),
        ],
        offset=(0.5, -0.5),
        alpha=0.3,
        path=out / "curvature.png",
        device=device,
    )
    timings["curvature"] = time.perf_counter() - started

    started = time.perf_counter()
    landscape = wells_task(
        centres=[(-1.3, 2.0), (2.2, 1.6), (0.4, -1.4)],
        depths=[1.5, 1.0, 1.2],
        widths=[0.7, 0.6, 0.8],
        bowl=0.1,
        device=device,
        dtype=dtype,
    )
    summary["imaml_regularisation"] = figures.regularisation_figure(
        GaussianWellsProblem(),
        landscape,
        theta=(0.9, 0.5),
        lambdas=(0.3, 1.0, 4.0),
        path=out / "imaml_regularisation.png",
        device=device,
    )
    timings["imaml_regularisation"] = time.perf_counter() - started

    started = time.perf_counter()
    summary["trajectories"] = comparisons.trajectories_figure(
        [
            ("quadratic tasks", quadratic, quadratic_batch),
            ("Gaussian-well tasks", wells, wells_batch),
        ],
        start=config.start,
        alpha=config.alpha,
        steps=config.steps,
        lr=config.outer_lr,
        iterations=config.iterations,
        path=out / "trajectories.png",
    )
    timings["trajectories"] = time.perf_counter() - started

    for key, label, distribution, batch in (
        ("meta_gradients", "quadratic tasks", quadratic, quadratic_batch),
        ("meta_gradients_wells", "Gaussian-well tasks", wells, wells_batch),
    ):
        started = time.perf_counter()
        summary[key] = comparisons.meta_gradient_figure(
            label,
            distribution,
            batch,
            theta=(-1.5, 2.0),
            alphas=compute.log_range(1e-3, 0.3, 12),
            alpha_steps=(1, 4),
            step_counts=tuple(range(1, 11)),
            step_alpha=0.02,
            path=out / f"{key}.png",
        )
        timings[key] = time.perf_counter() - started

    started = time.perf_counter()
    summary["page"] = page.write_page(out / "explorer.html", device=device)
    timings["page"] = time.perf_counter() - started

    summary["seconds"] = timings
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def build_parser() -> argparse.ArgumentParser:
    defaults = ExplorerConfig()
    parser = argparse.ArgumentParser(
        prog="metarl toy",
        description="Render the toy explorer: seed 000's curvature figure, seed 001's "
        "regularisation figure, meta-training trajectories and meta-gradient comparisons of "
        "MAML, first-order MAML, Reptile, iMAML and Hessian-free MAML (PNGs), and an "
        "interactive HTML page.",
    )
    parser.add_argument("--out", default=defaults.out, help="output folder (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="task sampling seed")
    parser.add_argument("--device", default=defaults.device, help="torch device")
    parser.add_argument("--tasks", type=int, default=defaults.tasks, help="tasks per meta-batch")
    parser.add_argument(
        "--alpha",
        type=float,
        default=defaults.alpha,
        help="inner step size of the trajectory figure",
    )
    parser.add_argument(
        "--steps", type=int, default=defaults.steps, help="inner steps of the trajectory figure"
    )
    parser.add_argument(
        "--outer-lr",
        type=float,
        default=defaults.outer_lr,
        help="outer SGD step size of the trajectory figure",
    )
    parser.add_argument(
        "--iterations",
        type=int,
        default=defaults.iterations,
        help="meta-steps of the trajectory figure",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m metarl.extras.toy``."""
    run_args(build_parser().parse_args(argv))


def run_args(args: argparse.Namespace) -> None:
    """Entry point of ``metarl toy``, whose parser inherits :func:`build_parser`'s options."""
    try:
        config = ExplorerConfig(
            out=args.out,
            seed=args.seed,
            device=args.device,
            tasks=args.tasks,
            alpha=args.alpha,
            steps=args.steps,
            outer_lr=args.outer_lr,
            iterations=args.iterations,
        )
    except ValueError as error:
        raise SystemExit(f"metarl toy: {error}") from None
    started = time.perf_counter()
    run(config)
    out = Path(config.out)
    print(
        f"wrote {', '.join(sorted(p.name for p in out.iterdir()))} to {out}/ "
        f"in {time.perf_counter() - started:.1f} s"
    )
