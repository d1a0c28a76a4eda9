"""The batched Sawyer classes against Meta-World's own environments, and the batched env around
them: observations, rewards and success to 1e-6 across resets (full and partial), the fallback
to Meta-World's envs for the other classes, and the sampler on both backends."""

import warnings

import gymnasium
import numpy as np
import pytest
import torch
from metaworld import policies
from metaworld.utils import reward_utils

import envs
from envs.batched import make_batched
from envs.meta_world.classes import SAWYER_CLASSES
from envs.meta_world.env import ML1_CLASSES, ML45
from envs.meta_world.rewards import hamacher_product, tolerance
from envs.meta_world.vector import MetaWorldVector, SawyerBatch, _make_inner
from metarl.rl.policies import make_policy
from metarl.rl.sampler import MetaSampler

SCRIPTED_STEPS = {"default": 90}
"""Steps per episode of the scripted check, by class: long enough for Meta-World's scripted
policy (``policies.ENV_POLICY_MAP``), which reaches, grasps and places, to succeed, so every
reward branch and the success test run."""


def test_tolerance_and_hamacher_match_reward_utils():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-0.2, 0.4, 200), [0.0, 0.015, 0.05]])
    margins = np.concatenate([rng.uniform(0.0, 0.3, 200), [0.0, 0.0, 0.1]])
    for lower, upper in ((0.0, 0.05), (0.015, 0.05)):
        expected = [
            reward_utils.tolerance(v, bounds=(lower, upper), margin=m, sigmoid="long_tail")
            for v, m in zip(x, margins, strict=True)
        ]
        np.testing.assert_allclose(tolerance(x, lower, upper, margins), expected, atol=1e-15)
    a, b = rng.uniform(0, 1, 100), rng.uniform(0, 1, 100)
    a[:3], b[:3] = 0.0, (0.0, 0.5, 1.0)
    expected = [reward_utils.hamacher_product(p, q) for p, q in zip(a, b, strict=True)]
    np.testing.assert_allclose(hamacher_product(a, b), expected, atol=1e-15)


def _target_visible(obs: np.ndarray, env: object) -> np.ndarray:
    """The observation with the goal the ML benchmarks hide, for the scripted policy."""
    seen = obs.copy()
    seen[36:39] = env._target_pos  # type: ignore[attr-defined]
    return seen


@pytest.mark.parametrize("env_name", sorted(SAWYER_CLASSES))
def test_sawyer_batch_equals_metaworld(env_name):
    tasks = ML1_CLASSES[f"ML1-{env_name}"].split_tasks("train")[:3]
    references = [_make_inner(env_name, task) for task in tasks]
    batch = SawyerBatch(env_name, references[0], len(tasks), threads=2)
    batch.set_rand_vecs(np.array([task.rand_vec for task in tasks]))
    rng = np.random.default_rng(0)
    successes = 0
    # Episode 0: scripted with noise; 1: a partial reset (rows 0 and 2); 2: random actions.
    for episode, ids in enumerate((None, np.array([0, 2]), None)):
        rows = list(range(len(tasks))) if ids is None else ids.tolist()
        batch.reset(ids)
        expected = np.stack([references[row].reset()[0] for row in rows])
        np.testing.assert_allclose(batch.obs[rows], expected, atol=1e-6, rtol=0)
        scripted = [policies.ENV_POLICY_MAP[env_name]() for _ in rows]
        for _ in range(SCRIPTED_STEPS.get(env_name, SCRIPTED_STEPS["default"])):
            if episode < 2:
                actions = np.stack(
                    [
                        policy.get_action(
                            _target_visible(references[row]._last_stable_obs, references[row])
                        )
                        if references[row]._last_stable_obs is not None
                        else np.zeros(4)
                        for policy, row in zip(scripted, rows, strict=True)
                    ]
                )
                actions = actions + rng.normal(scale=0.1, size=actions.shape)
            else:
                actions = rng.uniform(-1.5, 1.5, size=(len(rows), 4))
            reward, success = batch.step(actions, ids)
            outcomes = [
                references[row].step(action) for row, action in zip(rows, actions, strict=True)
            ]
            np.testing.assert_allclose(
                batch.obs[rows], np.stack([o[0] for o in outcomes]), atol=1e-6, rtol=0
            )
            np.testing.assert_allclose(reward, [o[1] for o in outcomes], atol=1e-6, rtol=0)
            np.testing.assert_array_equal(success, [bool(o[4]["success"]) for o in outcomes])
            successes += int(success.sum())
    assert successes > 0  # the success test ran on both outcomes


def _mixed_tasks() -> list:
    """ML45 train tasks of a batched class (push) and of a fallback class (hammer)."""
    tasks = ML45.split_tasks("train")
    push = [task for task in tasks if task.env_name == "push-v3"][:2]
    hammer = [task for task in tasks if task.env_name == "hammer-v3"][:2]
    assert "hammer-v3" not in SAWYER_CLASSES
    return [push[0], hammer[0], push[1], hammer[1]]


def test_batched_env_mixes_batched_and_fallback_classes():
    tasks = _mixed_tasks()
    with pytest.warns(UserWarning, match="hammer-v3") as caught:
        vector = make_batched("metarl/ML45-v0", len(tasks), tasks=tasks, threads=1)
    assert sum("one after another" in str(w.message) for w in caught) == 1
    assert isinstance(vector, MetaWorldVector)
    kinds = {type(group).__name__ for group in vector.groups}
    assert kinds == {"SawyerBatch", "OwnEnvs"}
    singles = [gymnasium.make("metarl/ML45-v0", task=task) for task in tasks]
    obs, _ = vector.reset(seed=0)
    expected = np.stack([env.reset(seed=0)[0] for env in singles])
    np.testing.assert_allclose(obs, expected, atol=1e-6, rtol=0)
    rng = np.random.default_rng(1)
    for _ in range(20):
        actions = rng.uniform(-1, 1, size=(len(tasks), 4))
        obs, reward, _, _, info = vector.step(actions)
        outcomes = [env.step(a) for env, a in zip(singles, actions, strict=True)]
        np.testing.assert_allclose(obs, np.stack([o[0] for o in outcomes]), atol=1e-6, rtol=0)
        np.testing.assert_allclose(reward, [o[1] for o in outcomes], atol=1e-6, rtol=0)
        assert info["success"].shape == (len(tasks),)
    vector.close()


def test_sampler_backends_give_the_same_episodes():
    env_id = "metarl/ML1-push-v3-v0"
    tasks = envs.task_family(env_id).sample_tasks(2, seed=0)
    results = []
    for backend in ("batched", "gymnasium"):
        sampler = MetaSampler(env_id, 2, 40, backend=backend, sim_threads=1)
        policy = make_policy(
            sampler.observation_space,
            sampler.action_space,
            (16,),
            "tanh",
            generator=torch.Generator().manual_seed(0),
        )
        params = {k: v.detach() for k, v in policy.named_parameters()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results.append(
                sampler.sample(policy, params, tasks, torch.Generator().manual_seed(1), 0)
            )
        sampler.close()
    batched, reference = results
    torch.testing.assert_close(batched.observations, reference.observations, atol=1e-6, rtol=0)
    torch.testing.assert_close(batched.rewards, reference.rewards, atol=1e-6, rtol=0)
    assert batched.successes is not None and reference.successes is not None
    torch.testing.assert_close(batched.successes, reference.successes)
