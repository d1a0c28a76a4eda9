import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.meta_world.compat import load_metaworld
from envs.meta_world.splits import metaworld_task
from envs.tasks import HalfCheetahVelTask, MetaWorldTask

TRIO = ("reach-v3", "push-v3", "pick-place-v3")


@pytest.mark.parametrize("env_id", ["metarl/ML1-push-v3-v0", "metarl/ML10-v0"])
def test_registered_with_meta_worlds_horizon_and_passes_the_env_checker(env_id):
    assert gymnasium.spec(env_id).max_episode_steps == 500
    env = gymnasium.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("name", TRIO)
def test_steps_are_meta_worlds_own_env_with_the_same_task(name):
    """The family env is Meta-World's class underneath: same observations, rewards, infos."""
    task = envs.task_family(f"metarl/ML1-{name}-v0").sample_tasks(1, seed=5)[0]
    ours = gymnasium.make(f"metarl/ML1-{name}-v0")
    theirs = load_metaworld().env_dict.ALL_V3_ENVIRONMENTS[name]()
    theirs.set_task(metaworld_task(task))
    obs, _ = ours.reset(seed=1, options={"task": task})
    their_obs, _ = theirs.reset()
    np.testing.assert_array_equal(obs, their_obs)
    actions = np.random.default_rng(0).uniform(-1, 1, size=(30, 4))
    for action in actions:
        obs, reward, terminated, truncated, info = ours.step(action)
        their_obs, their_reward, *_, their_info = theirs.step(action)
        np.testing.assert_array_equal(obs, their_obs)
        assert reward == their_reward
        assert info["success"] == their_info["success"]
        assert not terminated and not truncated


def test_the_time_limit_ends_an_episode_at_500_steps():
    env = gymnasium.make("metarl/ML1-reach-v3-v0")
    env.reset()
    for _ in range(499):
        *_, truncated, _ = env.step(np.zeros(4))
        assert not truncated
    *_, truncated, _ = env.step(np.zeros(4))
    assert truncated


def test_a_scripted_reach_succeeds_and_says_so():
    """``info["success"]`` is Meta-World's: its own scripted policy reaches the goal."""
    load_metaworld()
    from metaworld.policies import SawyerReachV3Policy

    policy = SawyerReachV3Policy()
    env = gymnasium.make("metarl/ML1-reach-v3-v0")
    obs, _ = env.reset()
    successes = []
    for _ in range(150):
        # The ML benchmarks hide the goal from the observation; the scripted policy reads it there.
        seen = np.concatenate([obs[:-3], env.unwrapped.inner._target_pos])
        obs, _, _, _, info = env.step(policy.get_action(seen))
        successes.append(info["success"])
    assert not successes[0] and any(successes)


def test_tasks_of_another_benchmark_or_family_are_refused():
    env = gymnasium.make("metarl/ML1-push-v3-v0")
    reach = envs.task_family("metarl/ML1-reach-v3-v0").sample_tasks(1, seed=0)[0]
    with pytest.raises(ValueError, match=r"another benchmark; ML1 has \['push-v3'\]"):
        env.reset(options={"task": reach})
    with pytest.raises(TypeError, match="MetaWorldTask"):
        env.reset(options={"task": HalfCheetahVelTask(1.0)})
    ml10 = gymnasium.make("metarl/ML10-v0")
    ml45_only = MetaWorldTask("bin-picking-v3", (0.0, 0.7, 0.0, 0.12, 0.7, 0.04))  # ML45's test
    with pytest.raises(ValueError, match="another benchmark"):
        ml10.reset(options={"task": ml45_only})


def test_switching_class_builds_that_class():
    env = gymnasium.make("metarl/ML10-v0")
    for name in ("door-open-v3", "drawer-open-v3"):
        every = env.unwrapped.split_tasks("train") + env.unwrapped.split_tasks("test")
        task = next(t for t in every if t.env_name == name)
        env.reset(options={"task": task})
        assert type(env.unwrapped.inner) is load_metaworld().env_dict.ALL_V3_ENVIRONMENTS[name]
        assert isinstance(env.unwrapped.get_task(), MetaWorldTask)


def test_the_checkpoint_figure_takes_tasks_of_classes_with_other_vector_lengths():
    import torch

    from metarl.rl.iteration_log import return_vs_task_figure

    door = MetaWorldTask("door-open-v3", (0.0, 0.9, 0.15))
    push = envs.task_family("metarl/ML1-push-v3-v0").sample_tasks(1, seed=0)[0]
    figure = return_vs_task_figure([door, push], torch.zeros(2), torch.ones(2))
    x = figure.axes[0].collections[0].get_offsets()[:, 0]
    np.testing.assert_allclose(x, [np.linalg.norm(door.rand_vec), np.linalg.norm(push.rand_vec)])
