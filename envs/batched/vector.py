"""The part of a batched task environment that does not depend on the simulator.

:class:`TaskVectorEnv` is a ``gymnasium.vector.VectorEnv`` over ``N`` environments of one family,
each with its own task. It owns what every family shares: the tasks, the reset noise generators,
the time limit, Gymnasium 1.x auto-reset and the argument checks. A subclass holds the ``N``
simulator states and implements the hooks ``_init_simulation``, ``_apply_tasks``,
``_reset_states``, ``_advance`` and ``_observe``, each an array operation over the environments.

Seeding follows ``gymnasium.vector.SyncVectorEnv``: ``reset(seed=s)`` seeds environment ``i``
with ``s + i``, and every environment draws its reset noise from its own generator, exactly as
``gymnasium.make(id).reset(seed=s + i)`` would. A batched env therefore starts every episode,
auto-resets included, from the same state as a ``SyncVectorEnv`` of the registered single envs.
With ``seeding="shared"`` one generator seeded with ``s`` draws the noise of all environments at
once instead (no per-environment code even at resets, but other initial states than the single
envs). Noise is drawn on the calling thread in both modes, so results never depend on the
simulator's thread count.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
from gymnasium.error import ResetNeeded
from gymnasium.spaces import Box
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs.base import TaskEnv
from envs.tasks import Task, coerce_task

Seeding = Literal["per_env", "shared"]
StepInfo = dict[str, np.ndarray]
NoiseArrays = tuple[np.ndarray, ...]

_AUTORESET_MODES = (AutoresetMode.NEXT_STEP, AutoresetMode.DISABLED)


class TaskVectorEnv(VectorEnv):
    """``N`` environments of one task family stepped in one call.

    Auto-reset modes (``metadata["autoreset_mode"]``):

    - ``NEXT_STEP`` (Gymnasium's default): the step after an environment ends resets it; that
      step ignores its action and returns its first observation, reward 0 and both flags False.
    - ``DISABLED``: an environment that ended is held (not simulated, reward 0, its last
      observation and flags repeated) until ``reset``, e.g. ``reset(options={"reset_mask": m})``.
      This is the meta-RL sampler's fixed-horizon rollout.

    Args:
        reference: a single environment of the family (``envs.ENV_IDS[id](**kwargs)``); the
            batched env reads its spaces, task type and parameters from it.
        num_envs: N.
        max_episode_steps: episodes are truncated after this many steps, as ``gymnasium.make``'s
            ``TimeLimit`` does.
        tasks: N tasks (or their dict form); by default every env holds the single env's default.
        autoreset_mode: ``AutoresetMode.NEXT_STEP`` or ``AutoresetMode.DISABLED``.
        seeding: ``"per_env"`` (Gymnasium's generators, one per env) or ``"shared"``.
    """

    # Not a ClassVar: VectorEnv declares metadata an instance attribute (set again in __init__).
    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.NEXT_STEP}  # noqa: RUF012

    def __init__(
        self,
        reference: TaskEnv,
        num_envs: int,
        max_episode_steps: int,
        tasks: Sequence[Task | Mapping[str, Any]] | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        seeding: Seeding = "per_env",
    ) -> None:
        name = type(self).__name__
        if isinstance(num_envs, bool) or not isinstance(num_envs, numbers.Integral) or num_envs < 1:
            raise ValueError(f"{name} needs num_envs >= 1, got {num_envs!r}")
        if (
            isinstance(max_episode_steps, bool)
            or not isinstance(max_episode_steps, numbers.Integral)
            or max_episode_steps < 1
        ):
            raise ValueError(f"{name} needs max_episode_steps >= 1, got {max_episode_steps!r}")
        mode = AutoresetMode(autoreset_mode)
        if mode not in _AUTORESET_MODES:
            raise ValueError(
                f"{name} supports autoreset_mode NEXT_STEP or DISABLED, got {mode}; "
                "SAME_STEP is not implemented"
            )
        if seeding not in ("per_env", "shared"):
            raise ValueError(f"{name} seeding must be 'per_env' or 'shared', got {seeding!r}")

        self.num_envs = int(num_envs)
        self.max_episode_steps: int = int(max_episode_steps)
        self.task_type: type[Task] = reference.task_type
        self.metadata = {"autoreset_mode": mode}
        self.render_mode = None
        self.single_observation_space: Box = reference.observation_space
        self.single_action_space: Box = reference.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._action_shape: tuple[int, ...] = (self.num_envs, *self.single_action_space.shape)
        self._seeding: Seeding = seeding
        self._env_rngs: list[np.random.Generator | None] = [None] * self.num_envs
        self._shared_rng: np.random.Generator | None = None

        # steps in the current episode
        self._elapsed: np.ndarray = np.zeros(self.num_envs, dtype=np.int64)
        self._terminated: np.ndarray = np.zeros(self.num_envs, dtype=bool)
        self._truncated: np.ndarray = np.zeros(self.num_envs, dtype=bool)
        self._reset_done: bool = False
        default = reference.get_task()
        self._tasks: list[Task] = []
        self._task_params: np.ndarray = np.empty((self.num_envs, 0))
        self._init_simulation(reference)
        self.set_tasks(tasks if tasks is not None else [default] * self.num_envs)

    # -- hooks for subclasses ---------------------------------------------------------------------

    def _init_simulation(self, reference: TaskEnv) -> None:
        """Allocates the N simulator states (before the first ``set_tasks``)."""
        raise NotImplementedError

    def _apply_tasks(self, tasks: list[Task]) -> None:
        """Makes the simulation follow ``tasks`` (physics parameters); nothing by default."""

    def _reset_states(self, ids: np.ndarray | None) -> None:
        """Puts environments ``ids`` (sorted; None for all) in a fresh initial state, drawing
        any noise through :meth:`_draw_reset_noise`."""
        raise NotImplementedError

    def _advance(
        self, actions: np.ndarray, ids: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, StepInfo]:
        """Steps environments ``ids`` (sorted; None for all) with ``actions[ids]``.

        Returns ``reward (N,)``, ``terminated (N,)`` and the reward parts ``{name: (N,)}``;
        entries of environments not in ``ids`` are ignored by the caller.
        """
        raise NotImplementedError

    def _observe(self) -> np.ndarray:
        """Observations of all environments from their current states: (N, obs) float64."""
        raise NotImplementedError

    # -- tasks -------------------------------------------------------------------------------------

    def set_tasks(self, tasks: Sequence[Task | Mapping[str, Any]]) -> None:
        """Gives environment ``n`` the task ``tasks[n]`` (a task of this family or its dict).

        Reward tasks apply from the next step on, physics tasks at once (as ``set_task`` of the
        single env); call ``reset`` to start the episodes afresh.
        """
        if isinstance(tasks, Task | Mapping | str) or not isinstance(tasks, Sequence):
            raise TypeError(
                f"{type(self).__name__}.set_tasks takes a sequence of {self.num_envs} tasks, "
                f"got {type(tasks).__name__}"
            )
        if len(tasks) != self.num_envs:
            raise ValueError(
                f"{type(self).__name__} has {self.num_envs} environments but got "
                f"{len(tasks)} tasks; pass one task per environment"
            )
        coerced = [coerce_task(self.task_type, task) for task in tasks]
        self._apply_tasks(coerced)
        self._tasks = coerced
        # (N, K); Meta-World's classes have task vectors of different lengths: NaN-padded.
        arrays = [task.to_array() for task in coerced]
        self._task_params = np.full((len(arrays), max(len(a) for a in arrays)), np.nan)
        for row, array in zip(self._task_params, arrays, strict=True):
            row[: len(array)] = array

    def get_tasks(self) -> list[Task]:
        """The task of every environment."""
        return list(self._tasks)

    # -- Gymnasium API ---------------------------------------------------------------------------

    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Resets every environment, or those of ``options["reset_mask"]``.

        Args:
            seed: environment ``i`` is seeded with ``seed + i`` (``"shared"``: the one generator
                with ``seed``); a list gives each environment its seed (``"per_env"`` only).
            options: ``"tasks"``: N tasks set first (:meth:`set_tasks`); ``"reset_mask"``: (N,)
                bool, the environments to reset (the others are left as they are).
        """
        options = dict(options or {})
        unknown = sorted(set(options) - {"tasks", "reset_mask"})
        if unknown:
            raise ValueError(
                f"{type(self).__name__}.reset got unknown option(s) {unknown}; "
                "known: 'tasks', 'reset_mask'"
            )
        mask = self._reset_mask(options.get("reset_mask"))
        if "tasks" in options:
            self.set_tasks(options["tasks"])
        ids = None if mask is None else np.flatnonzero(mask)
        self._seed(seed, ids)
        self._restart(ids)
        self._reset_done = True
        return self._observe(), {}

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Steps every running environment with its row of ``actions`` (N, action_dim).

        Returns observations (N, obs) float64, rewards (N,) float64, terminations and
        truncations (N,) bool, and the reward parts ``{name: (N,), "_name": (N,) bool}``.
        """
        actions = self._check_actions(actions)
        ended = self._terminated | self._truncated  # (N,)
        running = ~ended
        step_ids = None if not ended.any() else np.flatnonzero(running)
        if step_ids is None or step_ids.size:
            reward, terminated, parts = self._advance(actions, step_ids)
        else:
            reward, terminated, parts = np.zeros(self.num_envs), running, {}

        if step_ids is None:  # the sampler's path: every environment ran
            self._elapsed += 1
            rewards = reward
            terminated = np.array(terminated, dtype=bool)
        else:
            self._elapsed[running] += 1
            rewards = np.where(running, reward, 0.0)
            terminated = running & terminated
        truncated = running & (self._elapsed >= self.max_episode_steps)
        if self.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP:
            if step_ids is not None:
                self._restart(np.flatnonzero(ended))
        else:  # DISABLED: ended environments repeat their flags until reset
            terminated |= self._terminated & ended
            truncated |= self._truncated & ended
        self._terminated, self._truncated = terminated, truncated

        infos: dict[str, Any] = {}
        for name, value in parts.items():
            infos[name] = value if step_ids is None else np.where(running, value, 0.0)
            infos[f"_{name}"] = running
        return self._observe(), rewards, terminated.copy(), truncated.copy(), infos

    def close_extras(self, **kwargs: Any) -> None:
        """Nothing to release: the simulator frees its memory with the object."""

    # -- helpers -----------------------------------------------------------------------------------

    def _restart(self, ids: np.ndarray | None) -> None:
        """Fresh episodes for ``ids`` (None: all), noise from each environment's generator."""
        if ids is not None and ids.size == 0:
            return
        self._reset_states(ids)
        index = slice(None) if ids is None else ids
        self._elapsed[index] = 0
        self._terminated[index] = False
        self._truncated[index] = False

    def _reset_mask(self, mask: Any) -> np.ndarray | None:
        if mask is None:
            return None
        array = np.asarray(mask)
        if array.dtype != np.bool_ or array.shape != (self.num_envs,):
            raise ValueError(
                f"reset_mask must be a bool array of shape ({self.num_envs},), "
                f"got {array.dtype} {array.shape}"
            )
        if not self._reset_done and not array.all():
            raise ResetNeeded(
                f"{type(self).__name__}: the first reset must reset every environment "
                "(leave out reset_mask)"
            )
        return None if array.all() else array

    def _seed(self, seed: int | Sequence[int | None] | None, ids: np.ndarray | None) -> None:
        """Seeds the generators of the environments ``ids`` about to be reset (None: all)."""
        if seed is None:
            return
        if self._seeding == "shared":
            if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
                raise TypeError(f"seeding='shared' takes one int seed, got {seed!r}")
            self._shared_rng = seeding.np_random(int(seed))[0]
            return
        if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
            seeds: Sequence[int | None] = [int(seed) + i for i in range(self.num_envs)]
        elif isinstance(seed, Sequence) and len(seed) == self.num_envs:
            seeds = seed
        else:
            raise TypeError(
                f"seed must be an int, None or a list of {self.num_envs} ints, got {seed!r}"
            )
        for i in range(self.num_envs) if ids is None else ids:
            env_seed = seeds[i]
            if env_seed is not None:
                self._env_rngs[i] = seeding.np_random(int(env_seed))[0]

    def _draw_reset_noise(
        self, ids: np.ndarray | None, sample: Callable[[np.random.Generator, int], NoiseArrays]
    ) -> NoiseArrays:
        """Reset noise of environments ``ids`` (None: all) as ``(n_reset, ...)`` arrays.

        ``sample(rng, k)`` returns arrays with a leading axis ``k``. It is called once per
        environment with that environment's generator and ``k = 1`` (``"per_env"``: the draws of
        ``gymnasium.make(id).reset``, so this loop runs only at resets), or once for all with the
        shared generator.
        """
        count = self.num_envs if ids is None else len(ids)
        if self._seeding == "shared":
            if self._shared_rng is None:
                self._shared_rng = seeding.np_random()[0]
            return sample(self._shared_rng, count)
        draws = []
        for i in range(self.num_envs) if ids is None else ids:
            rng = self._env_rngs[i]
            if rng is None:  # never seeded: fresh entropy, as an unseeded Gymnasium env
                rng = self._env_rngs[i] = seeding.np_random()[0]
            draws.append(sample(rng, 1))
        return tuple(np.concatenate(arrays) for arrays in zip(*draws, strict=True))

    def _check_actions(self, actions: Any) -> np.ndarray:
        if not self._reset_done:
            raise ResetNeeded(f"Cannot call {type(self).__name__}.step() before calling reset()")
        array = np.asarray(actions, dtype=np.float64)
        if array.shape != self._action_shape:
            raise ValueError(
                f"{type(self).__name__} expects actions of shape {self._action_shape} "
                f"(num_envs, action_dim), got shape {array.shape}"
            )
        # One vectorised test per step; the message is built only when it fails.
        if not np.isfinite(array).all():
            rows = np.flatnonzero(~np.isfinite(array).all(axis=-1))
            shown = "; ".join(
                f"{i}: {np.array2string(array[i], precision=4, separator=', ')}" for i in rows[:3]
            )
            raise ValueError(
                f"{type(self).__name__}: actions of environment(s) {rows[:5].tolist()}"
                f"{' ...' if rows.size > 5 else ''} are not finite (NaN or inf), e.g. {shown}; "
                "check the policy's outputs"
            )
        return array
