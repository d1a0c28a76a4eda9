"""Two-dimensional toy task families, behind the same interface as the supervised tasks.

A toy task's "model" is a single point ``x`` in the plane (:class:`ToyPoint`); its support and
query losses are closed-form functions of ``x``, so every quantity in the meta-learning problem
(loss landscape, adapted point, meta-loss, meta-gradient) can be drawn and checked exactly.

Quadratic tasks follow seed 000's curvature figure,

    f(x) = 1/2 (x - m)^T C (x - m) + g^T x,    m = (1/2, 1/2),    C = [[a, b], [b, c]],

with a per-task curvature C (random eigenvalues and orientation) and offset g; the query loss
shares C and may shift g (a second "minibatch" of the same task). Gaussian-well tasks are the
non-convex family: a shallow bowl with a few Gaussian wells at random places,

    f(x) = bowl/2 ||x - m||^2 - sum_j depth_j exp(-||x - mu_j||^2 / (2 width_j^2)),

so the inner loop can fall into different basins depending on where it starts.

Both families are :class:`metarl.core.problem.MetaProblem` implementations over ``TaskData`` dicts,
and their distributions draw a ``TaskBatch`` with ``sample(num_tasks, generator)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from metarl.core.functional import Params
from metarl.core.problem import TaskBatch, TaskData

CENTRE = 0.5
"""Both coordinates of seed 000's expansion point m = (1/2, 1/2)."""


class ToyPoint(nn.Module):
    """The toy "model": one parameter ``x``, a point in the plane (shape (2,))."""

    def __init__(
        self,
        start: Sequence[float],
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        if len(start) != 2:
            raise ValueError(f"a toy start point has 2 coordinates, got {list(start)}")
        self.x = nn.Parameter(torch.tensor(list(start), device=device, dtype=dtype))


@dataclass(frozen=True)
class QuadraticConfig:
    """Quadratic tasks f(x) = 1/2 (x - m)^T C (x - m) + g^T x with random C and g."""

    curvature_min: float = 0.5
    """Lower end of the uniform range of each eigenvalue of C."""
    curvature_max: float = 2.0
    """Upper end of the uniform range of each eigenvalue of C (the tasks' smoothness bound)."""
    offset_mean: tuple[float, float] = (0.5, -0.5)
    """Mean of the offset g."""
    offset_std: float = 1.0
    """Standard deviation of each coordinate of g around its mean."""
    query_offset_std: float = 0.0
    """Extra Gaussian shift of g in the query loss; 0 makes query and support losses equal."""

    def __post_init__(self) -> None:
        if not self.curvature_min <= self.curvature_max:
            raise ValueError(
                f"toy quadratic curvature_min ({self.curvature_min}) must be <= "
                f"curvature_max ({self.curvature_max})"
            )
        if len(self.offset_mean) != 2:
            raise ValueError(f"toy quadratic offset_mean needs 2 numbers, got {self.offset_mean}")
        for name in ("offset_std", "query_offset_std"):
            if getattr(self, name) < 0:
                raise ValueError(f"toy quadratic {name} must be >= 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class GaussianWellsConfig:
    """Non-convex tasks: a shallow bowl around m plus ``wells`` Gaussian wells at random places."""

    wells: int = 3
    """Gaussian wells per task."""
    spread: float = 2.0
    """Well centres are uniform in the square m +- spread."""
    depth_min: float = 0.5
    """Lower end of the uniform range of a well's depth."""
    depth_max: float = 1.5
    """Upper end of the uniform range of a well's depth."""
    width_min: float = 0.5
    """Lower end of the uniform range of a well's width (standard deviation)."""
    width_max: float = 1.0
    """Upper end of the uniform range of a well's width."""
    bowl: float = 0.1
    """Curvature of the bowl bowl/2 ||x - m||^2 that keeps every task bounded below."""
    query_jitter: float = 0.0
    """Gaussian shift of each well centre in the query loss; 0 makes query equal support."""

    def __post_init__(self) -> None:
        if self.wells < 1:
            raise ValueError(f"toy wells.wells must be >= 1, got {self.wells}")
        for low, high in (("depth_min", "depth_max"), ("width_min", "width_max")):
            if not 0 < getattr(self, low) <= getattr(self, high):
                raise ValueError(
                    f"toy wells needs 0 < {low} <= {high}, got "
                    f"{getattr(self, low)} and {getattr(self, high)}"
                )
        for name in ("spread", "bowl", "query_jitter"):
            if getattr(self, name) < 0:
                raise ValueError(f"toy wells.{name} must be >= 0, got {getattr(self, name)}")


def point_metrics(params: Params) -> dict[str, Tensor]:
    """Where a task's adaptation ended: the point's coordinates ``x0``, ``x1``."""
    return {"x0": params["x"][0], "x1": params["x"][1]}


class QuadraticProblem:
    """Seed 000's quadratic as a :class:`~metarl.core.problem.MetaProblem`.

    Task keys: ``curvature`` (2, 2), ``offset`` (2,) and ``query_offset`` (2,).
    """

    @staticmethod
    def value(x: Tensor, curvature: Tensor, offset: Tensor) -> Tensor:
        delta = x - CENTRE
        return 0.5 * delta @ curvature @ delta + offset @ x

    def support_loss(self, params: Params, task: TaskData, step: int = 0) -> Tensor:
        return self.value(params["x"], task["curvature"], task["offset"])

    def query_loss(self, params: Params, task: TaskData) -> Tensor:
        return self.value(params["x"], task["curvature"], task["query_offset"])

    def query_metrics(self, params: Params, task: TaskData) -> dict[str, Tensor]:
        return point_metrics(params)


class GaussianWellsProblem:
    """The Gaussian-well landscape as a :class:`~metarl.core.problem.MetaProblem`.

    Task keys: ``centres`` (W, 2), ``query_centres`` (W, 2), ``depths`` (W,), ``widths`` (W,),
    ``bowl`` () (a task entry, so one problem object serves any configuration).
    """

    @staticmethod
    def value(x: Tensor, centres: Tensor, depths: Tensor, widths: Tensor, bowl: Tensor) -> Tensor:
        squared = ((x - centres) ** 2).sum(dim=-1)  # (W,)
        wells = (depths * torch.exp(-squared / (2.0 * widths**2))).sum()
        return 0.5 * bowl * ((x - CENTRE) ** 2).sum() - wells

    def support_loss(self, params: Params, task: TaskData, step: int = 0) -> Tensor:
        return self.value(
            params["x"], task["centres"], task["depths"], task["widths"], task["bowl"]
        )

    def query_loss(self, params: Params, task: TaskData) -> Tensor:
        return self.value(
            params["x"], task["query_centres"], task["depths"], task["widths"], task["bowl"]
        )

    def query_metrics(self, params: Params, task: TaskData) -> dict[str, Tensor]:
        return point_metrics(params)


class _ToyDistribution:
    """Shared sampling plumbing: float64 draws on the generator's device, then device and dtype."""

    def __init__(self, device: torch.device | str, dtype: torch.dtype) -> None:
        self.device = torch.device(device)
        self.dtype = dtype

    @staticmethod
    def _check(num_tasks: int) -> None:
        if num_tasks < 1:
            raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")

    @staticmethod
    def _uniform(generator: torch.Generator, low: float, high: float, *shape: int) -> Tensor:
        draw = torch.rand(shape, generator=generator, device=generator.device, dtype=torch.float64)
        return low + (high - low) * draw

    @staticmethod
    def _normal(generator: torch.Generator, *shape: int) -> Tensor:
        return torch.randn(shape, generator=generator, device=generator.device, dtype=torch.float64)

    def _finish(self, tasks: dict[str, Tensor]) -> TaskBatch:
        return {k: v.to(device=self.device, dtype=self.dtype) for k, v in tasks.items()}


class QuadraticTasks(_ToyDistribution):
    """Samples quadratic tasks: C = R(psi) diag(e1, e2) R(psi)^T and g ~ N(offset_mean, std^2 I)."""

    def __init__(
        self,
        config: QuadraticConfig,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__(device, dtype)
        self.config = config
        self.problem = QuadraticProblem()

    @staticmethod
    def smoothness(tasks: TaskBatch) -> float:
        """The largest spectral norm of the tasks' Hessians C."""
        return float(torch.linalg.eigvalsh(tasks["curvature"]).abs().max())

    def sample(self, num_tasks: int, generator: torch.Generator) -> TaskBatch:
        """Draw ``num_tasks`` tasks: ``curvature`` (T, 2, 2), ``offset``, ``query_offset`` (T, 2).

        Also returns the task parameters ``eigenvalues`` (T, 2) and ``angle`` (T,) of C.
        """
        self._check(num_tasks)
        cfg = self.config
        eigenvalues = self._uniform(generator, cfg.curvature_min, cfg.curvature_max, num_tasks, 2)
        angle = self._uniform(generator, 0.0, math.pi, num_tasks)
        cos, sin = torch.cos(angle), torch.sin(angle)
        rotation = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
        curvature = rotation @ torch.diag_embed(eigenvalues) @ rotation.transpose(-1, -2)
        mean = torch.tensor(cfg.offset_mean, dtype=torch.float64, device=generator.device)
        offset = mean + cfg.offset_std * self._normal(generator, num_tasks, 2)
        query_offset = offset + cfg.query_offset_std * self._normal(generator, num_tasks, 2)
        return self._finish(
            {
                "curvature": 0.5 * (curvature + curvature.transpose(-1, -2)),
                "offset": offset,
                "query_offset": query_offset,
                "eigenvalues": eigenvalues,
                "angle": angle,
            }
        )


class GaussianWellsTasks(_ToyDistribution):
    """Samples Gaussian-well tasks (centres, depths and widths uniform in their ranges)."""

    def __init__(
        self,
        config: GaussianWellsConfig,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__(device, dtype)
        self.config = config
        self.problem = GaussianWellsProblem()

    @staticmethod
    def smoothness(tasks: TaskBatch) -> float:
        """An upper bound on the spectral norm of the tasks' Hessians, anywhere in the plane.

        A well's Hessian has spectral norm at most depth / width^2 (reached at its centre); the
        bound adds them up with the bowl's curvature, per task, and takes the largest.
        """
        wells = (tasks["depths"] / tasks["widths"] ** 2).sum(dim=-1)
        return float((tasks["bowl"] + wells).max())

    def sample(self, num_tasks: int, generator: torch.Generator) -> TaskBatch:
        """Draw ``num_tasks`` tasks: ``centres``, ``query_centres`` (T, W, 2), ``depths``,
        ``widths`` (T, W) and ``bowl`` (T,)."""
        self._check(num_tasks)
        cfg = self.config
        shape = (num_tasks, cfg.wells)
        centres = CENTRE + self._uniform(generator, -cfg.spread, cfg.spread, *shape, 2)
        depths = self._uniform(generator, cfg.depth_min, cfg.depth_max, *shape)
        widths = self._uniform(generator, cfg.width_min, cfg.width_max, *shape)
        query_centres = centres + cfg.query_jitter * self._normal(generator, *shape, 2)
        bowl = torch.full((num_tasks,), cfg.bowl, dtype=torch.float64, device=generator.device)
        return self._finish(
            {
                "centres": centres,
                "query_centres": query_centres,
                "depths": depths,
                "widths": widths,
                "bowl": bowl,
            }
        )


ToyTasks = QuadraticTasks | GaussianWellsTasks


def quadratic_task(
    a: float,
    b: float,
    c: float,
    offset: Sequence[float],
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float64,
) -> TaskData:
    """One quadratic task with curvature C = [[a, b], [b, c]] and offset g (seed 000's figure)."""
    curvature = torch.tensor([[a, b], [b, c]], device=device, dtype=dtype)
    g = torch.tensor(list(offset), device=device, dtype=dtype)
    return {"curvature": curvature, "offset": g, "query_offset": g.clone()}


def wells_task(
    centres: Sequence[Sequence[float]],
    depths: Sequence[float],
    widths: Sequence[float],
    bowl: float,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float64,
) -> TaskData:
    """One Gaussian-well task with the given wells (query equal to support)."""
    if not len(centres) == len(depths) == len(widths):
        raise ValueError(
            f"wells_task needs one depth and one width per centre, got {len(centres)} centres, "
            f"{len(depths)} depths and {len(widths)} widths"
        )
    centre = torch.tensor([list(c) for c in centres], device=device, dtype=dtype)
    return {
        "centres": centre,
        "query_centres": centre.clone(),
        "depths": torch.tensor(list(depths), device=device, dtype=dtype),
        "widths": torch.tensor(list(widths), device=device, dtype=dtype),
        "bowl": torch.tensor(bowl, device=device, dtype=dtype),
    }


def as_batch(task: TaskData) -> TaskBatch:
    """A single task as a meta-batch of one (leading task dimension)."""
    return {key: value.unsqueeze(0) for key, value in task.items()}
