"""Env steps per second of meta-RL sampling, from the raw physics to Gymnasium's vector envs.

For each environment at its published meta-batch shape (HalfCheetahVel and AntDir: 40 tasks x 20
episodes, horizon 200, as in the MAML paper; Navigation2D: 20 tasks x 20 episodes, horizon 100;
ML1-push: Meta-World's push-v3, and ML10: its ten training classes, 20 tasks x 10 episodes,
horizon 500, the Meta-World paper's Table 9), one table row per way of stepping the N = tasks x
episodes environments:

- ``raw physics``: ``mujoco.rollout`` (persistent thread pool) of the same N initial states with
  zero controls: no policy, no observation, the ceiling the ``vs raw physics`` column divides by;
- ``raw physics, the sampler's actions``: the same rollout with the actions of the row's
  sampling phase (a random policy's; 0 after an episode's end), each held for the frame skip:
  the ceiling with a random policy's contacts, the ``vs random-action physics`` column (for
  Meta-World the actions' mocap poses and finger controls, as its step computes them). Both
  need one MuJoCo model: Navigation2D has none and ML10 ten, so they have no such rows;
- ``batched env alone``: ``envs.batched`` stepped with zero actions: physics + observations,
  rewards, terminations, no policy;
- ``metarl sampler``: ``MetaSampler`` on the batched backend, one post-adaptation sampling phase
  (every task with its own parameters), including the Gaussian MLP (100-100 ReLU) forward pass,
  one vmapped call per step for all envs, and the episode bookkeeping;
- ``SyncVectorEnv`` / ``AsyncVectorEnv``: Gymnasium's vector envs over ``gymnasium.make(id)``
  copies, stepped by the same batched policy; to keep the run short, SyncVectorEnv holds
  tasks x ``--baseline-episodes`` envs and AsyncVectorEnv ``--async-envs`` (one process each).
  For Meta-World these are its own ``gym.make_vec("Meta-World/ML1-train" | "ML10-train", ...)``
  sync and async vector envs instead, tasks set by their ``sample_tasks`` call: ML1 at
  ``meta_batch_size`` 10 (it must divide the 50 goals, which the paper's 20 does not), ML10 at
  the paper's 20 (a multiple of its 10 classes).

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
    TaskVectorEnv,
    default_threads,
    make_batched,
)
from envs.meta_world.compat import MetaWorldUnavailable, load_metaworld
from envs.meta_world.vector import MOCAP_QUAT, MetaWorldVector, SawyerBatch
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
    one_model: bool = True
    """The envs are the physics of one MuJoCo model, so the raw-physics rows apply."""

    @property
    def num_envs(self) -> int:
        return self.tasks * self.episodes


SETTINGS = {
    "HalfCheetahVel": Setting("metarl/HalfCheetahVel-v0", 40, 20, 200, "MAML paper"),
    "AntDir": Setting("metarl/AntDir-v0", 40, 20, 200, "MAML paper"),
    "Navigation2D": Setting("metarl/Navigation2D-v0", 20, 20, 100, "pytorch-maml-rl", False),
    "ML1-push": Setting("metarl/ML1-push-v3-v0", 20, 10, 500, "Meta-World paper, Table 9"),
    "ML10": Setting("metarl/ML10-v0", 20, 10, 500, "Meta-World paper, Table 9", False),
}
ML1_VECTOR_ENVS = 10
"""Meta-World's ML1 make_vec ``meta_batch_size``: the largest divisor of its 50 goals up to 20."""
ML10_CLASSES = 10
"""Meta-World's ML10 make_vec needs a ``meta_batch_size`` that is a multiple of this."""


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
    or of ``actions`` ``(N, steps, action_dim)``, each held for ``frame_skip`` substeps as the env
    does. Meta-World's hand follows its mocap body: the rollout sets the mocap pose with the
    controls, held where the reset left it (zero controls) or moved by the actions."""
    env = _initial_states(setting, threads)
    model, batch, frame_skip = _physics_of(env, setting.env_id)
    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    data = mujoco.MjData(model)
    states = np.empty((env.num_envs, mujoco.mj_stateSize(model, spec)))
    for n in range(env.num_envs):  # setup, not timed
        mujoco.mj_resetData(model, data)
        data.qpos[:], data.qvel[:] = batch.bind("qpos")[n], batch.bind("qvel")[n]
        mujoco.mj_getState(model, data, states[n], spec)
    if actions is None:
        name = "raw physics (mujoco.rollout, zero ctrl)"
        actions = np.zeros((env.num_envs, steps, *env.single_action_space.shape))
    else:
        name = RANDOM_ACTION_PHYSICS
    control_spec = mujoco.mjtState.mjSTATE_CTRL
    if isinstance(env, MetaWorldVector):
        control_spec |= mujoco.mjtState.mjSTATE_MOCAP_POS | mujoco.mjtState.mjSTATE_MOCAP_QUAT
        controls = _sawyer_controls(env.groups[0], actions[:, :steps].astype(np.float64))
    else:
        controls = actions[:, :steps].astype(np.float64)
    control = np.repeat(controls, frame_skip, axis=1)  # (N, steps x frame_skip, ncontrol)
    nstep = steps * frame_skip
    out = np.zeros((env.num_envs, nstep, states.shape[1]))  # touched now, so not timed
    datas = [mujoco.MjData(model) for _ in range(threads)]
    with mj_rollout.Rollout(nthread=threads if threads > 1 else 0) as pool, Timer() as timer:
        pool.rollout(
            model, datas, states, control, control_spec=control_spec, nstep=nstep, state=out
        )
    return Row(name, env.num_envs * steps, timer.wall, timer.cpu, f"first {steps} steps")


def _sawyer_controls(group: object, actions: np.ndarray) -> np.ndarray:
    """Meta-World's controls of ``actions`` ``(N, steps, 4)`` from the batch's current state:
    fingers ``(a3, -a3)``, then the mocap pose each step moves to, ``(N, steps, 2 + 3 + 4)``."""
    assert isinstance(group, SawyerBatch)  # a single batched class (_physics_of checked)
    mocap = group.batch.bind("mocap_pos")[:, 0].copy()
    quat = np.broadcast_to(MOCAP_QUAT, (actions.shape[0], 4))
    out = np.empty((*actions.shape[:2], 9))
    for t in range(actions.shape[1]):  # setup, not timed
        delta = np.clip(actions[:, t, :3], -1.0, 1.0) * group.action_scale
        mocap = np.clip(mocap + delta, group.mocap_low, group.mocap_high)
        out[:, t] = np.concatenate([actions[:, t, 3:], -actions[:, t, 3:], mocap, quat], axis=1)
    return out


def _initial_states(setting: Setting, threads: int) -> TaskVectorEnv:
    """The batched env reset as the sampler resets it (env n seeded ``0 + n``, the tasks of
    :func:`project_sampler`)."""
    tasks = envs.task_family(setting.env_id).sample_tasks(setting.tasks, seed=0)
    env_tasks = [task for task in tasks for _ in range(setting.episodes)]
    env = make_batched(setting.env_id, setting.num_envs, threads=threads, tasks=env_tasks)
    env.reset(seed=0)
    return env


def _physics_of(env: TaskVectorEnv, env_id: str) -> tuple[mujoco.MjModel, mujoco.batch.Batch, int]:
    """The single env's model, the batch and the frame skip of a batched env of one model."""
    if isinstance(env, MujocoTaskVectorEnv):
        return _single_env_model(env_id), env.batch, env.frame_skip
    if isinstance(env, MetaWorldVector) and len(env.groups) == 1:
        group = env.groups[0]
        if isinstance(group, SawyerBatch):
            return group.model, group.batch, group.frame_skip
    raise ValueError(f"{type(env).__name__} is not the physics of one MuJoCo model")


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
    timer = _policy_rollout(vec, setting.horizon)
    cpu = None if asynchronous else timer.cpu  # the workers' CPU time is not this process's
    return Row(name, num_envs * setting.horizon, timer.wall, cpu, note)


def metaworld_vector(setting: Setting, asynchronous: bool) -> Row:
    """Meta-World's own ``gym.make_vec("Meta-World/ML1-train")`` at ``meta_batch_size``
    :data:`ML1_VECTOR_ENVS` (ML10: ``"Meta-World/ML10-train"`` at the setting's tasks rounded
    to a multiple of :data:`ML10_CLASSES`), its tasks set by ``sample_tasks``, stepped for one
    horizon by the same batched policy."""
    strategy = "async" if asynchronous else "sync"
    family = envs.family_name(setting.env_id)
    if family == "ML10":
        meta_batch = ML10_CLASSES * max(1, setting.tasks // ML10_CLASSES)
        vec = gymnasium.make_vec(
            "Meta-World/ML10-train", meta_batch_size=meta_batch, vector_strategy=strategy, seed=0
        )
    else:
        vec = gymnasium.make_vec(
            "Meta-World/ML1-train",
            env_name=family.removeprefix("ML1-"),
            meta_batch_size=ML1_VECTOR_ENVS,
            vector_strategy=strategy,
            seed=0,
        )
    assert isinstance(vec, gymnasium.vector.SyncVectorEnv | gymnasium.vector.AsyncVectorEnv)
    vec.call("sample_tasks")  # its wrappers set no task before this call
    timer = _policy_rollout(vec, setting.horizon)
    note = f"{vec.num_envs} envs" + (", one worker process each" if asynchronous else "")
    name = f"Meta-World make_vec ({strategy})"
    return Row(
        name, vec.num_envs * setting.horizon, timer.wall, None if asynchronous else timer.cpu, note
    )


def _policy_rollout(vec: gymnasium.vector.VectorEnv, horizon: int) -> Timer:
    """``horizon`` steps of ``vec`` by the batched policy, then closes it; the loop's timer."""
    policy, params = _policy(vec.single_observation_space, vec.single_action_space)
    generator = torch.Generator().manual_seed(0)
    obs, _ = vec.reset(seed=0)
    with torch.no_grad(), Timer() as timer:
        for _ in range(horizon):
            obs_t = torch.as_tensor(obs, dtype=torch.float32)
            dist = policy.make_distribution(policy.dist_params(params, obs_t))
            noise = torch.randn(dist.mean.shape, generator=generator)
            obs, _, _, _, _ = vec.step((dist.mean + dist.stddev * noise).numpy())
    vec.close()
    return timer


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
        key = ("/".join(filename.rsplit("/", 2)[-2:]), function)  # e.g. batched/vector.py
        cumulative[key] = max(cumulative.get(key, 0.0), row[3])  # row[3]: cumulative seconds
    physics = sum(  # MuJoCo's batched calls: steps, forward passes and resets
        cumulative.get(("~", f"<built-in method mujoco._batch.{call}>"), 0.0)
        for call in ("step", "forward", "reset")
    )
    env_total = sum(cumulative.get(("batched/vector.py", call), 0.0) for call in ("step", "reset"))
    policy = cumulative.get(("rl/sampler.py", "act"), 0.0)
    rest = seconds - env_total - policy
    parts = [("MuJoCo physics (Batch calls, threaded; resets included)", physics)]
    if contact_share is not None:
        parts.append(("  of which the contact-force pass (replayed)", physics * contact_share))
    parts += [
        ("batched env arrays (obs, reward, flags, checks)", env_total - physics),
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
        if envs.is_meta_world(setting.env_id):
            try:
                load_metaworld()
            except MetaWorldUnavailable as error:
                print(f"| {key} | skipped: {error} | | | | | |")
                continue
        label = f"{key} ({setting.tasks} x {setting.episodes} x {setting.horizon})"
        steps = min(args.physics_steps, setting.horizon)
        best: dict[str, Row] = {}
        for round_ in range(args.repeats):  # interleaved, so every row sees the same load
            sampler_row, episodes, profiler = project_sampler(setting, threads, round_ == 0)
            rows = []
            meta_world = envs.is_meta_world(setting.env_id)
            if setting.one_model:
                rows.append(raw_physics(setting, threads, steps))
                actions = episodes.actions.reshape(setting.horizon, setting.num_envs, -1)
                rows.append(raw_physics(setting, threads, steps, actions.transpose(0, 1).numpy()))
            rows.append(batched_env_alone(setting, threads, steps))
            rows.append(sampler_row)
            if meta_world:
                rows += [metaworld_vector(setting, False), metaworld_vector(setting, True)]
            else:
                baseline_envs = setting.tasks * args.baseline_episodes
                rows.append(gymnasium_vector(setting, baseline_envs, False))
                rows.append(gymnasium_vector(setting, args.async_envs, True))
            for row in rows:
                if row.name not in best or row.rate > best[row.name].rate:
                    best[row.name] = row
            if profiler is not None:
                share = None
                if setting.one_model:
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
        f"| {label} | **metarl sampler / {sync.name}** | **{sampler.rate / sync.rate:.1f}x** "
        f"| | | | vs {async_.name}: {sampler.rate / async_.rate:.1f}x |",
        flush=True,
    )


if __name__ == "__main__":
    main()
