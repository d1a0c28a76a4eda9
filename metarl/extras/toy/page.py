"""Write the interactive explorer page, with the core's numbers it checks itself against.

The page (:mod:`~.page_template`) computes in JavaScript with the core's formulas; this
module computes the same quantities with the core (:func:`core_numbers`) at a few settings and
embeds them, so the page verifies itself on load, and the browser test compares the page with
the core at further settings.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from metarl.core.algorithms import HFMAMLConfig
from metarl.extras.toy import compute, variants
from metarl.extras.toy.page_template import TEMPLATE
from metarl.extras.toy.tasks import CENTRE, QuadraticProblem, as_batch, quadratic_task

HALF_WIDTH = 3.0
"""The page's panels show m +- HALF_WIDTH in both coordinates."""
FIRST_ORDER_GRID = 41
"""Points per axis of the grid on which the page measures the first-order error."""
TOLERANCE = 1e-6
"""Largest relative difference the page accepts between its numbers and the core's (iMAML's
inner solver stops at 1e-10; everything else agrees to rounding)."""


@dataclass(frozen=True)
class PageState:
    """One setting of the page's sliders (the names the page's ``readState`` uses)."""

    a: float
    b: float
    c: float
    g: tuple[float, float]
    theta: tuple[float, float]
    lam: float
    alpha: float
    k: int


DEFAULT_STATE = PageState(1.5, 0.6, 0.8, (0.5, -0.5), (-1.5, 2.0), 1.0, 0.2, 3)
"""The sliders' initial positions in the page."""


def random_states(count: int, generator: torch.Generator) -> list[PageState]:
    """Settings inside the sliders' ranges whose regularised inner problems have a minimum.

    Both iMAML variants need lam + lambda_min(C) > 0 (for lam and for 1 / (k alpha)); settings
    that miss it by less than 0.2 are drawn again.
    """
    states: list[PageState] = []
    while len(states) < count:
        u = torch.rand(10, generator=generator, dtype=torch.float64).tolist()
        a, c, b = -0.5 + 2.5 * u[0], -0.5 + 2.5 * u[1], -0.8 + 1.6 * u[2]
        state = PageState(
            a=a,
            b=b,
            c=c,
            g=(-1.0 + 2.0 * u[3], -1.0 + 2.0 * u[4]),
            theta=(-2.0 + 5.0 * u[5], -2.0 + 5.0 * u[6]),
            lam=10.0 ** (-0.5 + 1.5 * u[7]),
            alpha=0.05 + 0.35 * u[8],
            k=1 + int(6 * u[9]),
        )
        smallest = float(torch.linalg.eigvalsh(torch.tensor([[a, b], [b, c]]))[0])
        if min(state.lam, 1.0 / (state.k * state.alpha)) + smallest > 0.2:
            states.append(state)
    return states


def core_numbers(state: PageState, device: torch.device | str = "cpu") -> dict[str, Any]:
    """What the page shows for ``state``, computed by the core (Reptile on seed 003's scale)."""
    dtype = torch.float64
    problem = QuadraticProblem()
    task = quadratic_task(state.a, state.b, state.c, state.g, device, dtype)
    tasks = as_batch(task)
    theta = torch.tensor(state.theta, device=device, dtype=dtype)
    eigenvalues = torch.linalg.eigvalsh(task["curvature"])
    smallest, smoothness = float(eigenvalues[0]), float(eigenvalues.abs().max())
    out: dict[str, Any] = {}
    for name in ("maml", "fomaml", "reptile", "hfmaml"):
        variant = variants.Variant(name, state.alpha, state.k, smoothness)
        out[name] = variant.gradient(problem, tasks, theta).tolist()
    imaml = variants.Variant("imaml", state.alpha, state.k, smoothness, state.lam, smallest)
    out["imaml"] = imaml.gradient(problem, tasks, theta).tolist()
    out["phiStar"] = imaml.adapted_point(problem, task, theta).tolist()
    matched = variants.Variant("imaml", state.alpha, state.k, smoothness, None, smallest)
    out["imamlMatched"] = matched.gradient(problem, tasks, theta).tolist()
    out["path"] = [
        variants.Variant("maml", state.alpha, steps, smoothness)
        .adapted_point(problem, task, theta)
        .tolist()
        for steps in range(state.k + 1)
    ]
    *_, points = compute.grid_points((CENTRE, CENTRE), HALF_WIDTH, FIRST_ORDER_GRID, device, dtype)
    field = compute.curvature_field((state.a, state.b, state.c), state.g, points)
    out["firstOrderRelative"] = field.relative_error
    return out


def write_page(
    path: Path, device: torch.device | str = "cpu", settings: int = 4, seed: int = 0
) -> dict[str, Any]:
    """Write the self-contained page to ``path``; returns the reference numbers it embeds."""
    states = [DEFAULT_STATE, *random_states(settings, torch.Generator().manual_seed(seed))]
    reference = {
        "fd_eps": HFMAMLConfig().fd_eps,
        "tolerance": TOLERANCE,
        "settings": [{"state": asdict(s), "core": core_numbers(s, device)} for s in states],
    }
    # "</" inside a <script> element would end it early.
    payload = json.dumps(reference).replace("</", "<\\/")
    path.write_text(TEMPLATE.replace("__REFERENCE__", payload), encoding="utf-8")
    return reference
