"""Env steps/s of ML1 push-v3 stepped three ways, measured in one process (``python
tools/metaworld_speed.py``): MuJoCo's physics alone (``mj_step`` with Meta-World's frame skip of
5, one thread, zero controls), metarl's sampler (gymnasium backend, 100-100 tanh Gaussian policy,
one batched policy call per step) and Gymnasium's ``SyncVectorEnv`` over Meta-World's own envs with
the same policy. 25 envs x 100 steps, best of 2 rounds. A stopgap until ``metarl bench sampler``
has a Meta-World row on a batched Sawyer backend (issue 13)."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import gymnasium
import mujoco
import torch

import envs
from envs.meta_world import load_metaworld
from envs.meta_world.splits import metaworld_task
from metarl.rl.policies import make_policy
from metarl.rl.sampler import MetaSampler

ENV_ID, NAME = "metarl/ML1-push-v3-v0", "push-v3"
TASKS, HORIZON = 25, 100


def main() -> None:
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    metaworld = load_metaworld()
    tasks = envs.task_family(ENV_ID).sample_tasks(TASKS, seed=0)
    sampler = MetaSampler(ENV_ID, 1, HORIZON, backend="gymnasium")
    policy = make_policy(
        sampler.observation_space,
        sampler.action_space,
        (100, 100),
        "tanh",
        1.0,
        generator=torch.Generator().manual_seed(0),
    )
    params = {name: value.detach() for name, value in policy.named_parameters()}

    def ours() -> None:
        sampler.sample(policy, params, tasks, torch.Generator().manual_seed(1), 0)

    def make(task: envs.MetaWorldTask) -> Callable[[], gymnasium.Env]:
        def build() -> gymnasium.Env:
            env = metaworld.env_dict.ALL_V3_ENVIRONMENTS[NAME]()
            env.set_task(metaworld_task(task))
            return gymnasium.wrappers.TimeLimit(env, 500)

        return build

    vector = gymnasium.vector.SyncVectorEnv([make(task) for task in tasks])

    def sync() -> None:
        obs, _ = vector.reset(seed=0)
        for _ in range(HORIZON):
            with torch.no_grad():
                dist = policy.dist_params(params, torch.as_tensor(obs, dtype=torch.float32))
                actions = policy.actions_from_noise(dist, torch.randn(TASKS, 4)).numpy()
            obs, *_ = vector.step(actions)

    model = metaworld.env_dict.ALL_V3_ENVIRONMENTS[NAME]().model
    datas = [mujoco.MjData(model) for _ in range(TASKS)]

    def physics() -> None:
        for _ in range(HORIZON):
            for data in datas:
                mujoco.mj_step(model, data, nstep=5)

    rows = {
        "raw physics (mj_step x 5, one thread)": physics,
        "metarl sampler (gymnasium backend)": ours,
        "SyncVectorEnv of Meta-World's envs": sync,
    }
    rates = {}
    for name, run in rows.items():
        best = float("inf")
        for _ in range(2):
            start = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - start)
        rates[name] = TASKS * HORIZON / best
    ceiling = rates["raw physics (mj_step x 5, one thread)"]
    print(f"ML1 {NAME}, {TASKS} envs x {HORIZON} steps, best of 2")
    for name, rate in rates.items():
        print(f"{name:<40} {rate:>8.0f} env steps/s  {rate / ceiling:6.1%} of raw physics")


if __name__ == "__main__":
    main()
