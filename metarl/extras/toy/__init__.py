"""Toy explorer: the MAML family on two-dimensional tasks, as pictures and an interactive page.

Reproduces the seed articles' figures on the project's own core (seed 000's curvature figure,
seed 001's regularised inner objective, seed 003's Taylor analysis of the meta-gradients) and
compares MAML, first-order MAML, Reptile, iMAML and Hessian-free MAML side by side. Run it with
``metarl toy`` or ``python -m metarl.extras.toy``.
"""

from metarl.extras.toy.explorer import ExplorerConfig, main, run
from metarl.extras.toy.tasks import (
    GaussianWellsConfig,
    GaussianWellsProblem,
    GaussianWellsTasks,
    QuadraticConfig,
    QuadraticProblem,
    QuadraticTasks,
    ToyPoint,
    quadratic_task,
    wells_task,
)

__all__ = [
    "ExplorerConfig",
    "GaussianWellsConfig",
    "GaussianWellsProblem",
    "GaussianWellsTasks",
    "QuadraticConfig",
    "QuadraticProblem",
    "QuadraticTasks",
    "ToyPoint",
    "main",
    "quadratic_task",
    "run",
    "wells_task",
]
