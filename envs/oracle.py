"""Oracle variants: the observation ends with the task parameters (``task.to_array()``).

The MAML paper's "oracle" baseline (Finn et al., 2017, sec. 5.3) is a policy that sees the task.
``OracleMixin`` goes in front of a family class (``class HalfCheetahVelOracle(OracleMixin,
HalfCheetahVel)``); being a subclass rather than a wrapper, ``env.unwrapped`` is the oracle env
itself, and ``set_task`` / ``get_task`` / ``sample_tasks`` are inherited unchanged.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
from gymnasium.spaces import Box, Space

from envs.functional import oracle_obs


class OracleMixin:
    """Appends the task parameters to every observation and widens ``observation_space``."""

    _task_params: np.ndarray
    observation_space: Space[Any]  # as gymnasium.Env declares it, so the bases agree

    def __init__(self, task: Any = None, **kwargs: Any) -> None:
        super().__init__(task=task, **kwargs)  # type: ignore[call-arg]
        base_space = cast(Box, self.observation_space)  # every family observes a flat Box
        size = base_space.shape[0] + self._task_params.size
        self.observation_space = Box(-np.inf, np.inf, shape=(size,), dtype=np.float64)

    def _get_obs(self) -> np.ndarray:
        base = super()._get_obs()  # type: ignore[misc]
        return oracle_obs(base[None], self._task_params[None])[0]
