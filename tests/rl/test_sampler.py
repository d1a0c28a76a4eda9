"""MetaSampler against plain one-env-at-a-time rollouts with the same seeds, noise and params."""

import numpy as np
import pytest
import torch

import envs
from envs import functional as F
from metarl.rl.policies import GaussianMLPPolicy
from metarl.rl.sampler import MetaSampler, reference_rollout

DTYPE = torch.float64
NAV = "metarl/Navigation2D-v0"


def assert_matches_reference(
    sampler, episodes, policy, params, tasks, seed, generator_seed, per_task
):
    """Every (task, episode) of ``episodes`` equals reference_rollout with its noise and seed."""
    t_, e_ = episodes.num_tasks, episodes.episodes_per_task
    device = episodes.rewards.device
    noise = policy.sample_noise(
        (sampler.horizon, t_, e_), torch.Generator().manual_seed(generator_seed), device, DTYPE
    )
    for i in range(t_):
        task_params = {k: v[i] for k, v in params.items()} if per_task else params
        for e in range(e_):
            ref = reference_rollout(
                sampler.env_id, tasks[i], policy, task_params, noise[:, i, e], seed + i * e_ + e
            )
            for name in ("observations", "actions", "rewards", "mask", "log_probs"):
                torch.testing.assert_close(
                    getattr(episodes, name)[:, i, e], ref[name], rtol=1e-10, atol=1e-10
                )


def test_navigation_shared_params_equal_reference_rollouts(gaussian_policy, detached_params):
    sampler = MetaSampler(NAV, episodes_per_task=3, horizon=20)
    policy = gaussian_policy(2, 2, hidden=(8,))
    params = detached_params(policy)
    tasks = envs.task_family(NAV).sample_tasks(2, seed=0)
    episodes = sampler.sample(policy, params, tasks, torch.Generator().manual_seed(7), seed=11)
    assert episodes.observations.shape == (20, 2, 3, 2)
    assert episodes.observations.dtype == DTYPE
    assert episodes.dist_params["mean"].shape == (20, 2, 3, 2)
    assert_matches_reference(sampler, episodes, policy, params, tasks, 11, 7, per_task=False)
    returns = episodes.episode_returns()
    torch.testing.assert_close(returns, (episodes.rewards * episodes.mask).sum(0))


def test_per_task_params_and_early_termination(detached_params):
    """Each task's linear policy walks straight to its goal in 5 steps and terminates there."""
    policy = GaussianMLPPolicy(2, 2, hidden=(), init_std=1e-6).to(DTYPE)
    tasks = envs.task_family(NAV).sample_tasks(3, seed=1)
    goals = torch.tensor([task.goal for task in tasks], dtype=DTYPE)
    params = {
        "log_std": torch.full((3, 2), np.log(1e-6), dtype=DTYPE),
        "mean.0.weight": torch.zeros(3, 2, 2, dtype=DTYPE),
        "mean.0.bias": goals / 5,
    }
    sampler = MetaSampler(NAV, episodes_per_task=2, horizon=12)
    episodes = sampler.sample(
        policy, params, tasks, torch.Generator().manual_seed(0), seed=3, per_task_params=True
    )
    torch.testing.assert_close(episodes.lengths(), torch.full((3, 2), 5.0, dtype=DTYPE))
    padded = episodes.mask == 0
    assert torch.all(episodes.observations[padded] == 0) and torch.all(
        episodes.actions[padded] == 0
    )
    assert torch.all(episodes.rewards[padded] == 0) and torch.all(episodes.log_probs[padded] == 0)
    assert_matches_reference(sampler, episodes, policy, params, tasks, 3, 0, per_task=True)


def test_staggered_episode_ends_are_zero_padded(detached_params):
    """Tasks end after 5, 8 and 10 steps of a 12-step horizon: every recorded value of a step
    after its episode's end (mid-rollout, and the two steps never taken) is exactly 0."""
    policy = GaussianMLPPolicy(2, 2, hidden=(), init_std=1e-6).to(DTYPE)
    tasks = envs.task_family(NAV).sample_tasks(3, seed=1)
    goals = torch.tensor([task.goal for task in tasks], dtype=DTYPE)
    steps_to_goal = torch.tensor([5.0, 8.0, 10.0], dtype=DTYPE)
    params = {
        "log_std": torch.full((3, 2), np.log(1e-6), dtype=DTYPE),
        "mean.0.weight": torch.zeros(3, 2, 2, dtype=DTYPE),
        "mean.0.bias": goals / steps_to_goal[:, None],
    }
    sampler = MetaSampler(NAV, episodes_per_task=2, horizon=12)
    episodes = sampler.sample(
        policy, params, tasks, torch.Generator().manual_seed(0), seed=3, per_task_params=True
    )
    torch.testing.assert_close(episodes.lengths(), steps_to_goal[:, None].expand(3, 2))
    padded = episodes.mask == 0
    values = {
        "observations": episodes.observations,
        "actions": episodes.actions,
        "rewards": episodes.rewards,
        "log_probs": episodes.log_probs,
        **episodes.dist_params,
    }
    for name, value in values.items():
        assert torch.all(value[padded] == 0), name
    moved = episodes.observations[1:][~padded[1:]]  # every env starts at the origin
    assert torch.all(moved.abs().sum(-1) > 0)  # only the padding is zero
    assert_matches_reference(sampler, episodes, policy, params, tasks, 3, 0, per_task=True)


def test_half_cheetah_vel_equals_reference_rollouts(gaussian_policy, detached_params):
    """MuJoCo reset noise comes from the per-env seeds; the batched rollout reproduces it."""
    env_id = "metarl/HalfCheetahVel-v0"
    sampler = MetaSampler(env_id, episodes_per_task=2, horizon=10)
    policy = gaussian_policy(17, 6, hidden=(16,))
    tasks = envs.task_family(env_id).sample_tasks(2, seed=0)
    base = detached_params(policy)
    params = {k: torch.stack([v, v + 0.1]) for k, v in base.items()}
    episodes = sampler.sample(
        policy, params, tasks, torch.Generator().manual_seed(2), seed=5, per_task_params=True
    )
    assert torch.all(episodes.mask == 1)
    assert_matches_reference(sampler, episodes, policy, params, tasks, 5, 2, per_task=True)


def test_discrete_actions_equal_reference_rollouts(
    corridor_id, categorical_policy, detached_params
):
    sampler = MetaSampler(corridor_id, episodes_per_task=4, horizon=15, backend="gymnasium")
    policy = categorical_policy(2, 3, hidden=(8,))
    params = detached_params(policy)
    tasks = [0, 2, -1]
    episodes = sampler.sample(policy, params, tasks, torch.Generator().manual_seed(4), seed=0)
    assert episodes.actions.dtype == torch.long and episodes.actions.shape == (15, 3, 4)
    assert (episodes.lengths() < 15).any()  # some episodes reach their goal
    assert_matches_reference(sampler, episodes, policy, params, tasks, 0, 4, per_task=False)


def test_same_generator_and_seed_give_the_same_episodes(gaussian_policy, detached_params):
    sampler = MetaSampler(NAV, episodes_per_task=2, horizon=10)
    policy = gaussian_policy(2, 2)
    params = detached_params(policy)
    tasks = envs.task_family(NAV).sample_tasks(2, seed=0)

    def run(generator_seed):
        return sampler.sample(
            policy, params, tasks, torch.Generator().manual_seed(generator_seed), 0
        )

    first, again, other = run(1), run(1), run(2)
    torch.testing.assert_close(first.actions, again.actions, rtol=0, atol=0)
    assert not torch.equal(first.actions, other.actions)


def test_float32_policy_and_meta_batch_of_changing_size(gaussian_policy):
    sampler = MetaSampler(NAV, episodes_per_task=2)
    assert sampler.horizon == 100
    policy = GaussianMLPPolicy(2, 2, hidden=(4,))
    params = dict(policy.named_parameters())  # nn.Parameters: sampling must not track gradients
    family = envs.task_family(NAV)
    for count in (3, 1):
        episodes = sampler.sample(
            policy, params, family.sample_tasks(count, 0), torch.Generator(), 0
        )
        assert episodes.rewards.shape == (100, count, 2)
        assert episodes.observations.dtype == torch.float32 and not episodes.log_probs.requires_grad


class BatchedNavigation:
    """A NumPy-vectorised Navigation2D behind the VectorBackend protocol: all N envs in one
    array operation, on the same functions as the Gymnasium env. Shows the backend is swappable."""

    def __init__(self, horizon):
        single = MetaSampler(NAV, 1, horizon).backend
        self.observation_space, self.action_space = single.observation_space, single.action_space
        self.horizon = horizon

    def reset(self, tasks, seed):
        self.goals = np.array([task.goal for task in tasks])
        self.position = np.zeros((len(tasks), 2))
        self.done = np.zeros(len(tasks), dtype=bool)
        self.steps = 0
        return self.position.copy()

    def step(self, actions):
        running = ~self.done
        moved = F.navigation_move(self.position, actions)
        self.position = np.where(running[:, None], moved, self.position)
        reward, _ = F.navigation_reward(self.position, self.goals)
        terminated = F.navigation_terminated(self.position, self.goals) & running
        self.steps += 1
        truncated = np.full(len(self.goals), self.steps >= self.horizon)
        self.done |= terminated | truncated
        return self.position.copy(), np.where(running, reward, 0.0), terminated, truncated

    def close(self):
        pass


def test_a_batched_backend_gives_the_same_episodes(gaussian_policy, detached_params):
    policy = gaussian_policy(2, 2)
    params = detached_params(policy)
    tasks = envs.task_family(NAV).sample_tasks(3, seed=2)
    gym_sampler = MetaSampler(NAV, episodes_per_task=2, horizon=25)
    batched_sampler = MetaSampler(
        NAV, episodes_per_task=2, horizon=25, backend=BatchedNavigation(25)
    )
    a = gym_sampler.sample(policy, params, tasks, torch.Generator().manual_seed(0), 0)
    b = batched_sampler.sample(policy, params, tasks, torch.Generator().manual_seed(0), 0)
    for name in ("observations", "actions", "rewards", "mask", "log_probs"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name), rtol=1e-12, atol=1e-12)


def test_bad_arguments_are_clear_errors(gaussian_policy, detached_params):
    with pytest.raises(ValueError, match="unknown environment id 'metarl/Nope-v0'"):
        MetaSampler("metarl/Nope-v0", 2)
    with pytest.raises(ValueError, match="unknown sampler backend"):
        MetaSampler(NAV, 2, backend="mjx")
    with pytest.raises(ValueError, match="episodes_per_task"):
        MetaSampler(NAV, 0)
    sampler = MetaSampler(NAV, 2, horizon=5)
    policy = gaussian_policy(2, 2)
    params = detached_params(policy)
    tasks = envs.task_family(NAV).sample_tasks(3, seed=0)
    with pytest.raises(ValueError, match="leading task dimension of 3"):
        sampler.sample(policy, params, tasks, torch.Generator(), 0, per_task_params=True)


def test_non_finite_parameters_are_named(gaussian_policy, detached_params):
    sampler = MetaSampler(NAV, 1, horizon=5)
    policy = gaussian_policy(2, 2)
    params = detached_params(policy)
    params["log_std"] = torch.full_like(params["log_std"], float("nan"))
    with pytest.raises(FloatingPointError, match="policy parameters finite"):
        sampler.sample(
            policy, params, envs.task_family(NAV).sample_tasks(1, 0), torch.Generator(), 0
        )


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_params_give_the_cpu_episodes(gaussian_policy, detached_params):
    policy = gaussian_policy(2, 2)
    params = detached_params(policy)
    tasks = envs.task_family(NAV).sample_tasks(2, seed=0)
    sampler = MetaSampler(NAV, episodes_per_task=2, horizon=10)
    cpu = sampler.sample(policy, params, tasks, torch.Generator().manual_seed(0), 0)
    policy_cuda = policy.to("cuda")
    params_cuda = {k: v.cuda() for k, v in params.items()}
    gpu = sampler.sample(policy_cuda, params_cuda, tasks, torch.Generator("cuda").manual_seed(0), 0)
    assert gpu.rewards.device.type == "cuda"
    torch.testing.assert_close(gpu.rewards.cpu(), cpu.rewards, rtol=0, atol=0.5)


class RecordingNavigation(BatchedNavigation):
    """Remembers every action array it was stepped with."""

    def __init__(self, horizon):
        super().__init__(horizon)
        self.stepped = []

    def step(self, actions):
        self.stepped.append(actions.copy())
        return super().step(actions)


@pytest.mark.parametrize(
    ("parameter", "value", "cause"),
    [
        # Finite weights whose sum overflows: the mean becomes inf on finite observations.
        ("mean", 1e308, r"the policy's mean became non-finite on finite observations"),
        # A finite log-std whose exp overflows: the sampled action is inf.
        ("log_std", 1e3, r"the policy's mean/log_std are finite but the sampled action overflowed"),
    ],
    ids=["mean", "sampling"],
)
def test_a_non_finite_action_stops_before_the_simulator(
    gaussian_policy, detached_params, parameter, value, cause
):
    backend = RecordingNavigation(6)
    sampler = MetaSampler(NAV, 2, horizon=6, backend=backend)
    policy = gaussian_policy(2, 2, hidden=(4,))
    params = detached_params(policy)
    for name in params:
        if name.startswith(parameter):
            params[name] = torch.full_like(params[name], value)
    tasks = envs.task_family(NAV).sample_tasks(3, seed=0)
    message = rf"non-finite action from the policy at step 0 of tasks \[0, 1, 2\]: {cause}"
    with pytest.raises(FloatingPointError, match=message):
        sampler.sample(policy, params, tasks, torch.Generator().manual_seed(0), 0)
    assert backend.stepped == []


class BrokenNavigation(BatchedNavigation):
    """Returns a NaN position for environment 3 on its third step."""

    def step(self, actions):
        obs, reward, terminated, truncated = super().step(actions)
        if self.steps == 3:
            obs[3, 1] = np.nan
        return obs, reward, terminated, truncated


def test_a_non_finite_observation_blames_the_environment(gaussian_policy, detached_params):
    sampler = MetaSampler(NAV, 2, horizon=6, backend=BrokenNavigation(6))
    policy = gaussian_policy(2, 2)
    tasks = envs.task_family(NAV).sample_tasks(2, seed=0)
    message = r"observations is nan at \[t=3, task=1, episode=1, dim=1\]: metarl/Navigation2D"
    with pytest.raises(FloatingPointError, match=message):
        sampler.sample(policy, detached_params(policy), tasks, torch.Generator(), 0)


def test_torch_threads_are_restored_after_sampling(gaussian_policy, detached_params):
    before = torch.get_num_threads()
    sampler = MetaSampler(NAV, 1, horizon=3, torch_threads=1)
    policy = gaussian_policy(2, 2)
    tasks = envs.task_family(NAV).sample_tasks(1, seed=0)
    sampler.sample(policy, detached_params(policy), tasks, torch.Generator(), 0)
    assert torch.get_num_threads() == before


def test_a_family_without_a_batched_class_falls_back_to_gymnasium_with_a_warning(
    gaussian_policy, detached_params, monkeypatch
):
    from envs.batched import factory
    from metarl.rl.sampler import GymnasiumBackend

    policy = gaussian_policy(2, 2)
    params = detached_params(policy)
    tasks = envs.task_family(NAV).sample_tasks(3, seed=4)
    reference = MetaSampler(NAV, episodes_per_task=2, horizon=10, backend="gymnasium")
    monkeypatch.delitem(factory.VECTOR_CLASSES, "Navigation2D")
    with pytest.warns(UserWarning, match="has no batched class in envs.batched; sampling it with"):
        fallback = MetaSampler(NAV, episodes_per_task=2, horizon=10, backend="batched")
    assert isinstance(fallback.backend, GymnasiumBackend)
    a = reference.sample(policy, params, tasks, torch.Generator().manual_seed(1), 0)
    b = fallback.sample(policy, params, tasks, torch.Generator().manual_seed(1), 0)
    assert torch.equal(a.rewards, b.rewards) and torch.equal(a.observations, b.observations)
    with pytest.raises(ValueError, match="has no batched class"):
        factory.make_batched(NAV, 2)


class DivergingNavigation(BatchedNavigation):
    """Environment 3 ends on its third step with a NaN observation, which it then repeats (as a
    held environment does); like ``envs.batched``, it refuses non-finite actions."""

    def step(self, actions):
        assert np.isfinite(actions).all(), "non-finite actions reached the environment"
        obs, reward, terminated, truncated = super().step(actions)
        if self.steps == 3:
            self.done[3] = terminated[3] = True
        if self.steps >= 3:
            obs[3] = np.nan
        return obs, reward, terminated, truncated


def test_a_non_finite_observation_after_the_end_is_dropped(gaussian_policy, detached_params):
    """The NaN observation comes after the episode's end: the policy never sees it, so no NaN
    action reaches the environment, and the episodes hold 0 there."""
    sampler = MetaSampler(NAV, 2, horizon=6, backend=DivergingNavigation(6))
    policy = gaussian_policy(2, 2)
    tasks = envs.task_family(NAV).sample_tasks(2, seed=0)
    episodes = sampler.sample(policy, detached_params(policy), tasks, torch.Generator(), 0)
    torch.testing.assert_close(episodes.lengths()[1], torch.tensor([6.0, 3.0], dtype=DTYPE))
    assert torch.all(episodes.observations[3:, 1, 1] == 0)
    assert torch.isfinite(episodes.observations).all() and torch.isfinite(episodes.log_probs).all()


class SucceedingNavigation(BatchedNavigation):
    """The NumPy Navigation2D backend, reporting success when an env is within 0.1 of its goal
    (a stand-in for Meta-World's ``info["success"]``, which the Meta-World tests check). It keeps
    the truth, success on a step the env was running, in ``succeeded``."""

    def reset(self, tasks, seed):
        self.succeeded = np.zeros(len(tasks), dtype=bool)
        return super().reset(tasks, seed)

    def step(self, actions):
        running = ~self.done
        out = super().step(actions)
        near = np.linalg.norm(self.position - self.goals, axis=1) < 0.1
        self.succeeded |= near & running
        # An env that had ended reports success too: the sampler must ignore it.
        self.last_success = near | ~running
        return out


def test_success_is_any_step_of_the_running_episode(gaussian_policy, detached_params):
    policy = gaussian_policy(2, 2)
    params = detached_params(policy)
    tasks = envs.task_family(NAV).sample_tasks(4, seed=2)
    backend = SucceedingNavigation(25)
    sampler = MetaSampler(NAV, episodes_per_task=3, horizon=25, backend=backend)
    episodes = sampler.sample(policy, params, tasks, torch.Generator().manual_seed(0), seed=0)
    assert episodes.successes is not None and episodes.successes.shape == (4, 3)
    expected = torch.as_tensor(backend.succeeded.reshape(4, 3))
    assert torch.equal(episodes.successes.bool(), expected)
    assert 0 < int(expected.sum()) < 12  # some, not all: the check can fail either way
    assert torch.equal(episodes.success_rates(), episodes.successes.mean(dim=1))


def test_envs_without_a_success_signal_give_none(gaussian_policy, detached_params):
    policy = gaussian_policy(2, 2)
    tasks = envs.task_family(NAV).sample_tasks(2, seed=2)
    sampler = MetaSampler(NAV, episodes_per_task=2, horizon=5, backend="gymnasium")
    episodes = sampler.sample(policy, detached_params(policy), tasks, torch.Generator(), seed=0)
    assert episodes.successes is None and episodes.success_rates() is None
