"""Meta-algorithms behind one interface (:class:`MetaAlgorithm`); pick one by name."""

from __future__ import annotations

from metarl.core.adaptation import InnerLoopConfig
from metarl.core.algorithms.base import MetaAlgorithm, MetaStepResult, map_tasks
from metarl.core.algorithms.hf_maml import HessianFreeMAML, HFMAMLConfig
from metarl.core.algorithms.imaml import IMAML, IMAMLConfig
from metarl.core.algorithms.maml import FOMAML, MAML, MetaSGD
from metarl.core.algorithms.reptile import Reptile

ALGORITHMS: dict[str, type[MetaAlgorithm]] = {
    cls.name: cls for cls in (MAML, FOMAML, MetaSGD, Reptile, IMAML, HessianFreeMAML)
}

SUMMARIES: dict[str, str] = {
    "maml": "grad = mean_i prod_j (I - a H_i(phi_j)) grad L_query,i(phi_k)  (exact, 2nd order)",
    "fomaml": "grad = mean_i grad L_query,i(phi_k)  (Hessian terms dropped)",
    "metasgd": "phi = theta - a (*) grad L_support, with a learned per parameter",
    "reptile": "theta <- theta + eps * mean_i (phi_i - theta)",
    "imaml": "grad = mean_i (I + H_i/lambda)^-1 grad L_query,i(phi_i), by CG on H-vector products",
    "hfmaml": "MAML with H v ~ [grad L(phi + d v) - grad L(phi - d v)] / 2d",
}


def make_algorithm(
    name: str,
    inner: InnerLoopConfig,
    imaml: IMAMLConfig | None = None,
    hfmaml: HFMAMLConfig | None = None,
) -> MetaAlgorithm:
    """Build the algorithm called ``name`` (one of :data:`ALGORITHMS`)."""
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; choose one of {sorted(ALGORITHMS)}")
    if name == "imaml":
        return IMAML(inner, imaml)
    if name == "hfmaml":
        return HessianFreeMAML(inner, hfmaml)
    return ALGORITHMS[name](inner)


__all__ = [
    "ALGORITHMS",
    "FOMAML",
    "IMAML",
    "MAML",
    "HFMAMLConfig",
    "HessianFreeMAML",
    "IMAMLConfig",
    "MetaAlgorithm",
    "MetaSGD",
    "MetaStepResult",
    "Reptile",
    "make_algorithm",
    "map_tasks",
]
