"""Collect episodes for a meta-batch of tasks: every environment steps together, one policy call.

For T tasks and E episodes per task, N = T * E environments run side by side (environment
n = i * E + e runs task i). At each time step a single batched policy call serves all of them:
with shared parameters (the meta-parameters, before adaptation) the policy runs once on the
``(T, E, obs)`` observations; with per-task parameters (each task's adapted parameters, stacked
along a leading task dimension) it runs once under :func:`torch.func.vmap` over tasks. Actions are
``policy.actions_from_noise`` of noise drawn up front from the caller's ``torch.Generator``, so
the same generator state gives the same actions whatever the batching (:func:`reference_rollout`).

The environments sit behind :class:`VectorBackend` (reset all N with their tasks, step all N with
an action array). The default, ``envs.batched.BatchedBackend``, steps all N simulator states in
one multi-threaded MuJoCo call (pure NumPy for Navigation2D); :class:`GymnasiumBackend` steps
``gymnasium.make`` copies one after another and stays selectable as the reference.
Per step, one array of observations (and, once an episode has ended, the mask of the running
environments) goes to the policy's device and one array of actions comes back; nothing else
synchronises with the device until the rollout ends.
"""

from __future__ import annotations

import contextlib
import importlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import gymnasium
import numpy as np
import torch
from torch import Tensor
from torch.func import vmap

from envs.batched import BatchedBackend, has_batched_class
from metarl.core.functional import Params
from metarl.errors import check_finite
from metarl.rl.episodes import Episodes
from metarl.rl.policies import Policy

StepResult = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class VectorBackend(Protocol):
    """N environments stepped together.

    After an environment reports ``terminated`` or ``truncated`` it is not stepped again until
    the next ``reset``: its entries keep the last observation and flags, with reward 0.
    """

    observation_space: gymnasium.Space
    """Space of one environment's observation."""
    action_space: gymnasium.Space
    """Space of one environment's action."""

    def reset(self, tasks: Sequence[Any], seed: int) -> np.ndarray:
        """Reset environment n with task ``tasks[n]`` and seed ``seed + n``; ``(N, obs)``."""
        ...

    def step(self, actions: np.ndarray) -> StepResult:
        """Step every running environment; ``observations (N, obs)``, ``rewards (N,)``,
        ``terminated (N,)`` and ``truncated (N,)`` (bool)."""
        ...

    def close(self) -> None: ...


# A backend may also hold ``last_success``: ``(N,)`` bool, whether each env's ``info["success"]``
# was set on the last step, or None when its envs report no success (everything but Meta-World).
# It is read with getattr, so backends without a success signal need not declare it.


def ensure_registered(env_id: str) -> None:
    """Check ``env_id`` is a registered Gymnasium id, importing ``envs`` for ``metarl/`` ids."""
    if env_id not in gymnasium.registry and env_id.startswith("metarl/"):
        importlib.import_module("envs")  # registers the metarl/ task families
    if env_id not in gymnasium.registry:
        known = sorted(i for i in gymnasium.registry if i.startswith("metarl/"))
        raise ValueError(f"unknown environment id {env_id!r}; the metarl ids are {known}")


class GymnasiumBackend:
    """N ``gymnasium.make(env_id)`` copies in a list, stepped one after another.

    Environments are made on demand and kept between resets (a meta-batch of any size reuses
    them). The TimeLimit is set to ``horizon``; Gymnasium's passive checker is left out (it only
    inspects the first step, at a cost on every step).
    """

    def __init__(self, env_id: str, horizon: int) -> None:
        ensure_registered(env_id)
        self.env_id, self.horizon = env_id, horizon
        self.envs: list[gymnasium.Env] = [self._make()]
        self.observation_space = self.envs[0].observation_space
        self.action_space = self.envs[0].action_space
        self._num_active = 0
        self.last_success: np.ndarray | None = None

    def _make(self) -> gymnasium.Env:
        return gymnasium.make(self.env_id, max_episode_steps=self.horizon, disable_env_checker=True)

    def reset(self, tasks: Sequence[Any], seed: int) -> np.ndarray:
        count = len(tasks)
        self.envs.extend(self._make() for _ in range(count - len(self.envs)))
        self._num_active = count
        observations = [
            env.reset(seed=seed + n, options={"task": task})[0]
            for n, (env, task) in enumerate(zip(self.envs, tasks, strict=False))
        ]
        self._observations = np.stack(observations)  # (N, obs)
        self._terminated = np.zeros(count, dtype=bool)
        self._truncated = np.zeros(count, dtype=bool)
        self.last_success = None
        return self._observations.copy()

    def step(self, actions: np.ndarray) -> StepResult:
        rewards = np.zeros(self._num_active)
        success = np.zeros(self._num_active, dtype=bool)
        reported = False
        for n in np.flatnonzero(~(self._terminated | self._truncated)):
            obs, reward, terminated, truncated, info = self.envs[n].step(actions[n])
            self._observations[n] = obs
            rewards[n] = reward
            self._terminated[n], self._truncated[n] = terminated, truncated
            if "success" in info:
                reported = True
                success[n] = bool(info["success"])
        self.last_success = success if reported else None
        return self._observations.copy(), rewards, self._terminated.copy(), self._truncated.copy()

    def close(self) -> None:
        for env in self.envs:
            env.close()


BACKENDS: dict[str, Callable[..., VectorBackend]] = {
    "batched": BatchedBackend,
    "gymnasium": GymnasiumBackend,
}
"""Backend name -> class taking ``(env_id, horizon)``: ``batched`` (all envs in one MuJoCo
batch, :mod:`envs.batched`; the default) or ``gymnasium`` (one registered env per slot, the
reference)."""


class MetaSampler:
    """Episodes of a meta-batch of tasks in one batched rollout.

    Args:
        env_id: a registered id with the task protocol (``reset(options={"task": task})``).
        episodes_per_task: E.
        horizon: H, the most steps per episode (the id's ``max_episode_steps`` when omitted).
        backend: a name from :data:`BACKENDS` or a ready :class:`VectorBackend`.
        sim_threads: simulation threads of the ``batched`` backend (``None``: every core).
        torch_threads: CPU threads of torch during ``sample`` (the policy calls and the checks and
            padding around the rollout), restored afterwards (``None`` leaves torch's setting).
            The per-step calls are small and alternate with environment steps, where idle OpenMP
            workers only compete with the environments for cores: on a busy 2-core machine,
            1 thread sampled 4x faster than 2, and each small parallel check took ~10 ms with 2
            threads against < 1 ms with 1.
    """

    def __init__(
        self,
        env_id: str,
        episodes_per_task: int,
        horizon: int | None = None,
        backend: str | VectorBackend = "batched",
        torch_threads: int | None = 1,
        sim_threads: int | None = None,
    ) -> None:
        ensure_registered(env_id)
        if horizon is None:
            horizon = gymnasium.spec(env_id).max_episode_steps
            if horizon is None:
                raise ValueError(f"{env_id} has no max_episode_steps; pass a horizon")
        if episodes_per_task < 1 or horizon < 1:
            raise ValueError(
                f"episodes_per_task and horizon must be >= 1, got {episodes_per_task}, {horizon}"
            )
        if isinstance(backend, str):
            if backend not in BACKENDS:
                raise ValueError(
                    f"unknown sampler backend {backend!r}; choose from {list(BACKENDS)}"
                )
            if backend == "batched" and not has_batched_class(env_id):
                warnings.warn(
                    f"{env_id} has no batched class in envs.batched; sampling it with the "
                    "gymnasium backend (one env per slot)",
                    stacklevel=2,
                )
                backend = "gymnasium"
            options = {"threads": sim_threads} if backend == "batched" else {}
            backend = BACKENDS[backend](env_id, horizon, **options)
        self.env_id = env_id
        self.episodes_per_task = episodes_per_task
        self.horizon = horizon
        self.backend = backend
        self.torch_threads = torch_threads

    @property
    def observation_space(self) -> gymnasium.Space:
        return self.backend.observation_space

    @property
    def action_space(self) -> gymnasium.Space:
        return self.backend.action_space

    def sample(
        self,
        policy: Policy,
        params: Params,
        tasks: Sequence[Any],
        generator: torch.Generator,
        seed: int,
        per_task_params: bool = False,
        shard: slice | None = None,
    ) -> Episodes:
        """Run E episodes of every task, all environments in lockstep.

        Args:
            policy: the policy (its module is only used functionally).
            params: its parameters (no ``model.`` prefix); with ``per_task_params`` every tensor
                has a leading task dimension of size ``len(tasks)``.
            tasks: the T tasks.
            generator: source of the exploration noise, drawn once as
                ``policy.sample_noise((H, T, E), generator, ...)``; it is advanced.
            seed: environment n is reset with seed ``seed + n``.
            per_task_params: whether ``params`` holds one parameter set per task.
            shard: run only ``tasks[shard]`` (one rank's share of the meta-batch under
                ``torchrun``), with the noise and environment seeds those tasks get when the
                whole meta-batch is sampled, so the ranks' episodes together are exactly the
                single-process episodes. ``params`` then covers the shard's tasks only.

        Returns:
            Episodes ``(H, T, E, ...)`` in the dtype and on the device of ``params``, with the
            sampling distribution's parameters in ``dist_params``.
        """
        with _torch_threads(self.torch_threads):
            return self._sample(policy, params, tasks, generator, seed, per_task_params, shard)

    def _sample(
        self,
        policy: Policy,
        params: Params,
        tasks: Sequence[Any],
        generator: torch.Generator,
        seed: int,
        per_task_params: bool,
        shard: slice | None,
    ) -> Episodes:
        """:meth:`sample` on the torch threads it set."""
        episodes, horizon = self.episodes_per_task, self.horizon
        shard = shard or slice(0, len(tasks))
        all_tasks, tasks = tasks, list(tasks)[shard]
        num_tasks = len(tasks)
        if num_tasks == 0:
            raise ValueError("sample() needs at least one task")
        _check_params(params, num_tasks, per_task_params)
        first = next(iter(params.values()))
        device, dtype = first.device, first.dtype
        num_envs = num_tasks * episodes

        act = _act_function(policy)
        if per_task_params:
            act = vmap(act)  # one call, each task with its own parameters
        noise = policy.sample_noise((horizon, len(all_tasks), episodes), generator, device, dtype)
        noise = noise[:, shard]

        env_tasks = [task for task in tasks for _ in range(episodes)]
        first_task = range(len(all_tasks))[shard].start
        obs_np = self.backend.reset(env_tasks, seed + first_task * episodes)
        alive = np.ones(num_envs, dtype=bool)
        mask_np = np.zeros((horizon, num_envs))
        rewards_np = np.zeros((horizon, num_envs))
        succeeded: np.ndarray | None = None  # (N,) success at any step, for envs that report it
        # Every recorded value goes straight into its (H, T, E, ...) output, allocated at the first
        # step: no per-step tensors to stack, pad and mask afterwards (3 copies of the rollout).
        record: dict[str, Tensor] = {}
        obs_shape = (num_tasks, episodes, *obs_np.shape[1:])
        observations = torch.empty((horizon, *obs_shape), dtype=dtype, device=device)
        obs_finite = torch.ones(horizon, dtype=torch.bool, device=device)  # running envs' obs
        steps = 0
        with torch.no_grad():
            for t in range(horizon):
                obs = observations[t]
                obs.copy_(torch.as_tensor(obs_np).view(obs_shape))  # cast as as_tensor(dtype=) does
                if not alive.all():
                    # An ended env repeats its last observation, maybe non-finite: its output
                    # is 0 and the policy sees that (what it returns there is dropped).
                    ended = torch.as_tensor(~alive, device=device).view(num_tasks, episodes)
                    obs.masked_fill_(ended.view(*ended.shape, *(1,) * (obs.dim() - 2)), 0)
                obs_finite[t] = torch.isfinite(obs).all()  # read once, after the rollout
                actions, log_probs, dist_params = act(params, obs, noise[t])
                for name, value in (
                    ("actions", actions),
                    ("log_probs", log_probs),
                    *dist_params.items(),
                ):
                    if t == 0:
                        record[name] = value.new_empty((horizon, *value.shape))
                    record[name][t] = value
                mask_np[t] = alive
                actions_np = actions.reshape(num_envs, *actions.shape[2:]).cpu().numpy()
                # The actions are on the host already: one NumPy test per step, no extra sync.
                if not np.isfinite(actions_np).all():
                    hint = f"{self.env_id} returned it"
                    check_finite("observations", observations[: t + 1], hint)
                    raise _non_finite_action(t, first_task, episodes, dist_params, actions_np)
                obs_np, reward, terminated, truncated = self.backend.step(actions_np)
                rewards_np[t] = np.where(alive, reward, 0.0)
                step_success = getattr(self.backend, "last_success", None)
                if step_success is not None:
                    if succeeded is None:
                        succeeded = np.zeros(num_envs, dtype=bool)
                    succeeded |= step_success & alive
                alive &= ~(terminated | truncated)
                steps = t + 1
                if not alive.any():
                    break

        shape = (horizon, num_tasks, episodes)
        mask = torch.as_tensor(mask_np.reshape(shape), dtype=dtype, device=device)
        observations[steps:].zero_()
        _zero_after_episode_ends(record, mask_np, mask)
        episodes_out = Episodes(
            observations=observations,
            actions=record.pop("actions"),
            rewards=torch.as_tensor(rewards_np.reshape(shape), dtype=dtype, device=device),
            mask=mask,
            log_probs=record.pop("log_probs"),
            dist_params=record,
            successes=None
            if succeeded is None
            else torch.as_tensor(succeeded.reshape(shape[1:]), dtype=dtype, device=device),
        )
        _check_rollout(episodes_out, obs_finite, self.env_id)
        return episodes_out

    def close(self) -> None:
        self.backend.close()


@contextlib.contextmanager
def _torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` torch CPU threads, then restore the previous number."""
    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _act_function(policy: Policy):
    """(params, obs, noise) -> (actions, log-probs, distribution parameters), one batched call."""

    def act(params: Params, obs: Tensor, noise: Tensor):
        dist_params = policy.dist_params(params, obs)
        actions = policy.actions_from_noise(dist_params, noise)
        log_probs = policy.make_distribution(dist_params).log_prob(actions)
        return actions, log_probs, dist_params

    return act


def _check_params(params: Params, num_tasks: int, per_task_params: bool) -> None:
    if not params:
        raise ValueError("sample() got an empty parameter dict")
    finite = torch.stack([torch.isfinite(v).all() for v in params.values()]).tolist()
    bad = [name for name, ok in zip(params, finite, strict=True) if not ok]
    if bad:
        raise FloatingPointError(
            f"policy parameter(s) {bad} hold NaN or inf before sampling; keep the policy "
            "parameters finite (a diverged inner or outer step: lower its step size)"
        )
    if not per_task_params:
        return
    wrong = {
        k: tuple(v.shape) for k, v in params.items() if v.dim() == 0 or v.shape[0] != num_tasks
    }
    if wrong:
        raise ValueError(
            f"per_task_params=True needs a leading task dimension of {num_tasks} on every "
            f"parameter; got shapes {wrong} (pass per_task_params=False for shared parameters)"
        )


def _non_finite_action(
    t: int, first_task: int, episodes: int, dist_params: Params, actions: np.ndarray
) -> FloatingPointError:
    """The error for a NaN/inf action at step ``t`` on finite observations, raised before the
    action reaches the simulator: which tasks, and whether the distribution parameters or the
    sampling overflowed.

    ``dist_params`` are the step's ``(T, E, ...)`` tensors, ``actions`` the ``(T * E, ...)``
    array; ``first_task`` is the index of task 0 in the whole meta-batch.
    """
    bad_envs = np.flatnonzero(~np.isfinite(actions).reshape(actions.shape[0], -1).all(axis=1))
    tasks = sorted({first_task + int(n) // episodes for n in bad_envs})
    shown = f"{tasks[:5]}{' ...' if len(tasks) > 5 else ''}"
    broken = [name for name, value in dist_params.items() if not bool(torch.isfinite(value).all())]
    if broken:
        cause = f"the policy's {'/'.join(broken)} became non-finite on finite observations"
    else:
        cause = (
            f"the policy's {'/'.join(dist_params)} are finite but the sampled action overflowed "
            "(a huge mean or standard deviation)"
        )
    return FloatingPointError(
        f"non-finite action from the policy at step {t} of tasks {shown}: {cause}; it was not "
        "passed to the simulator. Lower the inner step size (inner.lr), the outer step or "
        "policy.init_std"
    )


def _check_rollout(episodes: Episodes, obs_finite: Tensor, env_id: str) -> None:
    """Name the first non-finite value of a rollout and what produced it (one synchronisation).

    An observation feeds the action of the same step, which feeds that step's reward, so the
    earliest non-finite step decides whether the environment or the policy started it.
    ``obs_finite`` (``(H,)`` bool) says whether each step's observations are finite, as recorded
    while the observations were in cache.
    """

    def first_bad_step(bad: Tensor) -> Tensor:
        return torch.where(bad.any(), bad.to(torch.int8).argmax(), bad.shape[0])

    def bad_steps(x: Tensor) -> Tensor:
        return ~torch.isfinite(x).reshape(x.shape[0], -1).all(dim=1)

    steps = torch.stack(
        [
            first_bad_step(~obs_finite),
            first_bad_step(bad_steps(episodes.log_probs)),
            first_bad_step(bad_steps(episodes.rewards)),
        ]
    ).tolist()
    obs_step, policy_step, _ = steps
    if min(steps) == episodes.horizon:
        return
    env_hint = f"{env_id} returned it"
    if obs_step <= policy_step:
        check_finite("observations", episodes.observations, env_hint)
    if policy_step < episodes.horizon:
        check_finite(
            "log_probs",
            episodes.log_probs,
            "the policy gave it on a finite observation; are the policy parameters finite?",
        )
    check_finite("rewards", episodes.rewards, env_hint)


def _zero_after_episode_ends(record: dict[str, Tensor], mask_np: np.ndarray, mask: Tensor) -> None:
    """Sets every entry of the ``(H, T, E, ...)`` tensors of ``record`` where ``mask``
    (``(H, T, E)``) is 0 to 0, in place: the steps after an episode's end, and the steps never
    taken (never written). ``mask_np`` is ``mask`` on the host, ``(H, N)``: the steps before the
    first episode end are skipped without looking at the device."""
    ended = ~mask_np.all(axis=1)
    if not ended.any():
        return
    first = int(np.argmax(ended))
    dropped = mask[first:] == 0
    for values in record.values():
        trailing = (1,) * (values.dim() - dropped.dim())
        values[first:].masked_fill_(dropped.view(*dropped.shape, *trailing), 0)


def reference_rollout(
    env_id: str,
    task: Any,
    policy: Policy,
    params: Params,
    noise: Tensor,
    seed: int,
) -> dict[str, Tensor]:
    """One episode, one environment, one step at a time: the plain loop the sampler must match.

    ``noise`` is ``(H, ...)``, this episode's slice of the sampler's noise (``noise[:, i, e]``);
    ``seed`` is the sampler's ``seed + i * E + e``. Returns ``observations``, ``actions``,
    ``rewards``, ``mask`` and ``log_probs``, zero-padded to H.
    """
    horizon = noise.shape[0]
    ensure_registered(env_id)
    env = gymnasium.make(env_id, max_episode_steps=horizon)
    obs, _ = env.reset(seed=seed, options={"task": task})
    dtype, device = noise.dtype, noise.device
    steps: dict[str, list[Tensor]] = {
        k: [] for k in ("observations", "actions", "rewards", "log_probs")
    }
    with torch.no_grad():
        for t in range(horizon):
            obs_t = torch.as_tensor(obs, dtype=dtype, device=device)
            dist_params = policy.dist_params(params, obs_t)
            action = policy.actions_from_noise(dist_params, noise[t])
            log_prob = policy.make_distribution(dist_params).log_prob(action)
            obs, reward, terminated, truncated, _ = env.step(action.cpu().numpy())
            steps["observations"].append(obs_t)
            steps["actions"].append(action)
            steps["rewards"].append(torch.tensor(reward, dtype=dtype, device=device))
            steps["log_probs"].append(log_prob)
            if terminated or truncated:
                break
    env.close()
    length = len(steps["rewards"])
    out = {}
    for name, values in steps.items():
        stacked = torch.stack(values)
        out[name] = torch.cat([stacked, stacked.new_zeros((horizon - length, *stacked.shape[1:]))])
    out["mask"] = (torch.arange(horizon, device=device) < length).to(dtype)
    return out
