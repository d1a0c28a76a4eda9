"""Env steps per second of meta-RL sampling, from the raw physics to Gymnasium's vector envs.

For each environment at its published meta-batch shape (HalfCheetahVel and AntDir: 40 tasks x 20
episodes, horizon 200, as in the MAML paper; Navigation2D: 20 tasks x 20 episodes, horizon 100),
one table row per way of stepping the N = tasks x episodes environments:

- ``raw physics``: ``mujoco.rollout`` (persistent thread pool) of the same N initial states with
  zero controls: no policy, no observation, the ceiling the ``vs raw physics`` column divides by;
- ``raw physics, the sampler's actions``: the same rollout with the actions of the row's
  sampling phase (a random policy's; 0 after an episode's end), each held for the frame skip:
  the ceiling with a random policy's contacts, the ``vs random-action physics`` column;
- ``batched env alone``: ``envs.batched`` stepped with zero actions: physics + observations,
  rewards, terminations, no policy;
- ``metarl sampler``: ``MetaSampler`` on the batched backend, one post-adaptation sampling phase
  (every task with its own parameters), including the Gaussian MLP (100-100 ReLU) forward pass,
  one vmapped call per step for all envs, and the episode bookkeeping;
- ``SyncVectorEnv`` / ``AsyncVectorEnv``: Gymnasium's vector envs over ``gymnasium.make(id)``
  copies, stepped by the same batched policy; to keep the run short, SyncVectorEnv holds
  tasks x ``--baseline-episodes`` envs and AsyncVectorEnv ``--async-envs`` (one process each).

The raw-physics and env-alone rows time the first ``--physics-steps`` steps (their cost per step
is steady). Each row is the best of ``--repeats`` interleaved rounds, and next to the wall-clock
rate the table gives env steps per CPU-second of this process (all its threads), which a machine
shared with other jobs disturbs much less. Then a profile of each env's first sampling phase:
where its time goes; for the Ant, the share of the physics spent on the contact-force pass is
measured by replaying the phase's steps with and without it. Run: ``metarl bench sampler
[--threads N]`` (or ``python -m metarl.extras.bench.sampler``) [--envs ...] [--repeats 2]
[--tasks T --episodes E --horizon H to override the shapes]."""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import os
import platform
import pstats
import time
from typing import cast

import gymnasium
import mujoco
import mujoco.batch
import numpy as np
import torch
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv
from gymnasium.spaces import Box
from mujoco import rollout as mj_rollout

import envs
from envs.batched import (
    AntVector,
    BatchedBackend,
    MujocoTaskVectorEnv,
    default_threads,
    make_batched,
)
from metarl.rl.episodes import Episodes
from metarl.rl.policies import Policy, make_policy
from metarl.rl.sampler import MetaSampler

HIDDEN = (100, 100)
RANDOM_ACTION_PHYSICS = "raw physics (mujoco.rollout, the sampler's actions)"


@dataclasses.dataclass(frozen=True)
class Setting:
    """A published meta-batch shape."""

    env_id: str
    tasks: int
    episodes: int
    horizon: int
    source: str

    @property
    def num_envs(self) -> int:
        return self.tasks * self.episodes


SETTINGS = {
    "HalfCheetahVel": Setting("metarl/HalfCheetahVel-v0", 40, 20, 200, "MAML paper"),
    "AntDir": Setting("metarl/AntDir-v0", 40, 20, 200, "MAML paper"),
    "Navigation2D": Setting("metarl/Navigation2D-v0", 20, 20, 100, "pytorch-maml-rl"),
}


@dataclasses.dataclass(frozen=True)
class Row:
    """One timed run: ``steps`` env steps in ``seconds`` (wall) and ``cpu`` CPU-seconds of this
    process (all its threads; None where the work runs in other processes)."""

    name: str
    steps: int
    seconds: float
    cpu: float | None
    note: str = ""

    @property
    def rate(self) -> float:
        return self.steps / self.seconds


class Timer:
    """Wall and process CPU time of a ``with`` block."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def _single_env_model(env_id: str) -> mujoco.MjModel:
    """The single env's own MuJoCo model (a MuJoCo family; the batched env checked that)."""
    return cast(MujocoEnv, gymnasium.make(env_id).unwrapped).model


def raw_physics(
    setting: Setting, threads: int, steps: int, actions: np.ndarray | None = None
) -> Row:
    """``mujoco.rollout`` of the batched env's initial states, ``steps`` env steps
    (``steps x frame_skip`` substeps) in one call on a persistent thread pool: of zero controls,
    or of ``actions`` ``(N, steps, nu)``, each held for ``frame_skip`` substeps as the env does."""
    env = _initial_states(setting, threads)
    model = _single_env_model(setting.env_id)
    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    data = mujoco.MjData(model)
    states = np.empty((env.num_envs, mujoco.mj_stateSize(model, spec)))
    for n in range(env.num_envs):  # setup, not timed
        mujoco.mj_resetData(model, data)
        data.qpos[:], data.qvel[:] = env.batch.bind("qpos")[n], env.batch.bind("qvel")[n]
        mujoco.mj_getState(model, data, states[n], spec)
    nstep = steps * env.frame_skip
    if actions is None:
        control = np.zeros((env.num_envs, 1, model.nu))
        name = "raw physics (mujoco.rollout, zero ctrl)"
    else:
        control = np.repeat(actions[:, :steps].astype(np.float64), env.frame_skip, axis=1)
        name = RANDOM_ACTION_PHYSICS
    out = np.zeros((env.num_envs, nstep, states.shape[1]))  # touched now, so not timed
    datas = [mujoco.MjData(model) for _ in range(threads)]
    with mj_rollout.Rollout(nthread=threads if threads > 1 else 0) as pool, Timer() as timer:
        pool.rollout(model, datas, states, control, nstep=nstep, state=out)
    return Row(name, env.num_envs * steps, timer.wall, timer.cpu, f"first {steps} steps")


def _initial_states(setting: Setting, threads: int) -> MujocoTaskVectorEnv:
    """The batched env reset as the sampler resets it (env n seeded ``0 + n``)."""
    env = make_batched(setting.env_id, setting.num_envs, threads=threads)
    if not isinstance(env, MujocoTaskVectorEnv):
        raise ValueError(f"{setting.env_id} has no MuJoCo physics")
    env.reset(seed=0)
    return env


def contact_pass_share(setting: Setting, threads: int, episodes: Episodes) -> float | None:
    """Share of a sampling phase's physics spent on the Ant's contact-force pass: the phase's
    simulated steps (its actions, each step on the envs still running) replayed on the
    batched env's physics, and on the single env's model without the pass; None for families
    without it. Best of two replays each, CPU time (it is steadier than wall time)."""
    env = _initial_states(setting, threads)
    if not isinstance(env, AntVector):
        return None
    actions = episodes.actions.reshape(setting.horizon, setting.num_envs, -1).double().numpy()
    running = episodes.mask.reshape(setting.horizon, setting.num_envs).numpy() > 0
    start = env.batch.bind("qpos").copy(), env.batch.bind("qvel").copy()
    plain = _single_env_model(setting.env_id)
    variants = {
        "with": (env.model, mujoco.mjtStage.mjSTAGE_ACC),
        "without": (plain, mujoco.mjtStage.mjSTAGE_NONE),
    }
    cpu = {}
    for name, (model, stage) in variants.items():
        batch = mujoco.batch.Batch(model, setting.num_envs, nthread=threads)
        qpos, qvel, ctrl = batch.bind("qpos"), batch.bind("qvel"), batch.bind("ctrl")
        best = float("inf")
        for _ in range(2):
            batch.reset(stage=mujoco.mjtStage.mjSTAGE_NONE)
            qpos[:], qvel[:] = start
            with Timer() as timer:
                for t in np.flatnonzero(running.any(axis=1)):
                    ids = np.flatnonzero(running[t])
                    ctrl[...] = actions[t]
                    batch.step(None if ids.size == ctrl.shape[0] else ids, env.frame_skip, stage)
            best = min(best, timer.cpu)
        cpu[name] = best
    return 1.0 - cpu["without"] / cpu["with"]


def batched_env_alone(setting: Setting, threads: int, steps: int) -> Row:
    """The batched env stepped ``steps`` times with zero actions, no policy."""
    env = make_batched(
        setting.env_id,
        setting.num_envs,
        threads=threads,
        max_episode_steps=setting.horizon,
        autoreset_mode="Disabled",
    )
    env.reset(seed=0)
    actions = np.zeros(cast(Box, env.action_space).shape)
    running = np.ones(env.num_envs, dtype=bool)
    simulated = 0
    with Timer() as timer:
        for _ in range(steps):
            simulated += int(running.sum())  # ended environments are held, not simulated
            _, _, terminated, truncated, _ = env.step(actions)
            running = ~(terminated | truncated)
    name = "batched env alone (envs.batched, zero actions)"
    return Row(name, simulated, timer.wall, timer.cpu, f"first {steps} steps")


def project_sampler(
    setting: Setting, threads: int, profile: bool = False
) -> tuple[Row, Episodes, cProfile.Profile | None]:
    """One post-adaptation sampling phase of ``MetaSampler`` on the batched backend: every task
    with its own parameters (one vmapped policy call per step), the costlier of the two phases.
    Returns its row, its episodes and, with ``profile``, its profile."""
    backend = BatchedBackend(setting.env_id, setting.horizon, threads=threads)
    sampler = MetaSampler(setting.env_id, setting.episodes, setting.horizon, backend=backend)
    policy, params = _policy(sampler.observation_space, sampler.action_space)
    stacked = {k: v.expand(setting.tasks, *v.shape).clone() for k, v in params.items()}
    tasks = envs.task_family(setting.env_id).sample_tasks(setting.tasks, seed=0)
    generator = torch.Generator().manual_seed(0)
    profiler = cProfile.Profile()
    if profile:  # ~1 us per Python call: noise next to the physics
        profiler.enable()
    with Timer() as timer:
        episodes = sampler.sample(policy, stacked, tasks, generator, 0, per_task_params=True)
    profiler.disable()
    sampler.close()
    name, note = "metarl sampler (MetaSampler, batched backend)", "one full phase"
    row = Row(name, episodes.num_steps(), timer.wall, timer.cpu, note)
    return row, episodes, profiler if profile else None


def gymnasium_vector(setting: Setting, num_envs: int, asynchronous: bool) -> Row:
    """Gymnasium's vector env over ``num_envs`` registered envs (env i with task i mod tasks),
    stepped for one horizon by the same batched policy."""
    tasks = envs.task_family(setting.env_id).sample_tasks(setting.tasks, seed=0)
    env_tasks = [tasks[i % setting.tasks] for i in range(num_envs)]
    make = [
        lambda task=task: gymnasium.make(setting.env_id, task=task, disable_env_checker=True)
        for task in env_tasks
    ]
    vec: gymnasium.vector.VectorEnv
    if asynchronous:
        vec = gymnasium.vector.AsyncVectorEnv(make, shared_memory=True, context="fork")
        name = "AsyncVectorEnv"
        note = f"{num_envs} envs, one worker process each"
    else:
        vec = gymnasium.vector.SyncVectorEnv(make)
        name, note = "SyncVectorEnv", f"{num_envs} envs"
    policy, params = _policy(vec.single_observation_space, vec.single_action_space)
    generator = torch.Generator().manual_seed(0)
    obs, _ = vec.reset(seed=0)
    with torch.no_grad(), Timer() as timer:
        for _ in range(setting.horizon):
            obs_t = torch.as_tensor(obs, dtype=torch.float32)
            dist = policy.make_distribution(policy.dist_params(params, obs_t))
            noise = torch.randn(dist.mean.shape, generator=generator)
            actions = dist.mean + dist.stddev * noise
            obs, _, _, _, _ = vec.step(actions.numpy())
    vec.close()
    cpu = None if asynchronous else timer.cpu  # the workers' CPU time is not this process's
    return Row(name, num_envs * setting.horizon, timer.wall, cpu, note)


def _policy(obs_space: gymnasium.Space, action_space: gymnasium.Space) -> tuple[Policy, dict]:
    generator = torch.Generator().manual_seed(0)
    policy = make_policy(obs_space, action_space, HIDDEN, "relu", generator=generator)
    return policy, {k: v.detach() for k, v in policy.named_parameters()}


def _profile_summary(
    label: str, profiler: cProfile.Profile, seconds: float, contact_share: float | None
) -> str:
    """Seconds of one sampling phase split into physics (and its contact-force pass, a share
    of it from :func:`contact_pass_share`), env arrays, policy and the rest."""
    cumulative: dict[tuple[str, str], float] = {}
    for (filename, _, function), row in pstats.Stats(profiler).stats.items():  # type: ignore[attr-defined]
        key = (filename.rsplit("/", 1)[-1], function)
        cumulative[key] = max(cumulative.get(key, 0.0), row[3])  # row[3]: cumulative seconds
    physics = cumulative.get(("mujoco_vector.py", "_physics"), 0.0)
    step_total = cumulative.get(("vector.py", "step"), 0.0)
    policy = cumulative.get(("sampler.py", "act"), 0.0)
    env_arrays = step_total - physics
    rest = seconds - step_total - policy
    parts = [("MuJoCo physics (Batch.step, threaded)", physics)]
    if contact_share is not None:
        parts.append(("  of which the contact-force pass (replayed)", physics * contact_share))
    parts += [
        ("batched env arrays (obs, reward, flags, checks)", env_arrays),
        ("policy forward + action sampling (torch)", policy),
        ("sampler bookkeeping (tensors, masks, device copies)", rest),
    ]
    lines = [f"profile of one post-adaptation sampling phase, {label}: {seconds:.2f} s"]
    lines += [f"  {name:<52} {value:7.2f} s  {value / seconds:6.1%}" for name, value in parts]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="metarl bench sampler", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--envs", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--threads", type=int, default=None, help="MuJoCo threads (all cores)")
    parser.add_argument(
        "--repeats", type=int, default=2, help="rounds over all rows; each row keeps its best"
    )
    parser.add_argument(
        "--physics-steps",
        type=int,
        default=50,
        help="env steps of the raw-physics and env-alone rows (their cost per step is steady)",
    )
    parser.add_argument(
        "--baseline-episodes",
        type=int,
        default=2,
        help="episodes per task in the SyncVectorEnv row (it is slow)",
    )
    parser.add_argument(
        "--async-envs", type=int, default=8, help="envs (= worker processes) of AsyncVectorEnv"
    )
    for name in ("tasks", "episodes", "horizon"):
        parser.add_argument(f"--{name}", type=int, default=None, help=f"override the {name}")
    args = parser.parse_args(argv)
    threads = args.threads or default_threads()
    overrides = {k: getattr(args, k) for k in ("tasks", "episodes", "horizon")}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    counts = (threads, args.repeats, args.physics_steps, args.baseline_episodes, args.async_envs)
    if min(*counts, *overrides.values()) < 1:
        parser.error("every count and shape must be >= 1")

    print(
        f"{platform.machine()}, {default_threads()} cores available, load average "
        f"{os.getloadavg()[0]:.1f}; MuJoCo threads {threads}, torch threads "
        f"{torch.get_num_threads()}; mujoco {mujoco.__version__}, gymnasium "
        f"{gymnasium.__version__}, torch {torch.__version__}; best of {args.repeats} rounds"
    )
    print(f"policy: Gaussian MLP {'-'.join(map(str, HIDDEN))} ReLU, one call per step\n")
    print(
        "| env (tasks x episodes x horizon) | way of stepping | env steps/s | vs raw physics "
        "| vs random-action physics | env steps per CPU-second | note |"
    )
    print("|---|---|---:|---:|---:|---:|---|")
    profiles = []
    for key in args.envs:
        setting = dataclasses.replace(SETTINGS[key], **overrides)
        label = f"{key} ({setting.tasks} x {setting.episodes} x {setting.horizon})"
        steps = min(args.physics_steps, setting.horizon)
        best: dict[str, Row] = {}
        for round_ in range(args.repeats):  # interleaved, so every row sees the same load
            sampler_row, episodes, profiler = project_sampler(setting, threads, round_ == 0)
            rows = []
            if key != "Navigation2D":
                actions = episodes.actions.reshape(setting.horizon, setting.num_envs, -1)
                rows.append(raw_physics(setting, threads, steps))
                rows.append(raw_physics(setting, threads, steps, actions.transpose(0, 1).numpy()))
            rows.append(batched_env_alone(setting, threads, steps))
            rows.append(sampler_row)
            rows.append(gymnasium_vector(setting, setting.tasks * args.baseline_episodes, False))
            rows.append(gymnasium_vector(setting, args.async_envs, True))
            for row in rows:
                if row.name not in best or row.rate > best[row.name].rate:
                    best[row.name] = row
            if profiler is not None:
                share = None
                if key != "Navigation2D":
                    share = contact_pass_share(setting, threads, episodes)
                profiles.append(_profile_summary(label, profiler, sampler_row.seconds, share))
        _print_rows(label, best)
    for profile in profiles:
        print(f"\n{profile}")


def _print_rows(label: str, best: dict[str, Row]) -> None:
    rows = list(best.values())
    raw = rows[0].rate if rows[0].name.startswith("raw physics") else None
    random = best[RANDOM_ACTION_PHYSICS].rate if RANDOM_ACTION_PHYSICS in best else None
    for row in rows:
        ratio = f"{row.rate / raw:.0%}" if raw else "-"
        random_ratio = f"{row.rate / random:.0%}" if random else "-"
        cpu = f"{row.steps / row.cpu:,.0f}" if row.cpu else "-"
        print(
            f"| {label} | {row.name} | {row.rate:,.0f} | {ratio} | {random_ratio} | {cpu} "
            f"| {row.note} |"
        )
    sampler, sync, async_ = rows[-3:]
    print(
        f"| {label} | **metarl sampler / SyncVectorEnv** | **{sampler.rate / sync.rate:.1f}x** "
        f"| | | | vs AsyncVectorEnv: {sampler.rate / async_.rate:.1f}x |",
        flush=True,
    )


if __name__ == "__main__":
    main()
