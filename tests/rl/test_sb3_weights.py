"""Weight transfer between SB3's MlpPolicy and our policies."""

import gymnasium
import pytest
import torch
from stable_baselines3 import PPO

from metarl.rl.config import PolicyConfig
from metarl.rl.policies import make_policy
from metarl.rl.sb3_weights import policy_params_to_sb3, sb3_policy_kwargs, sb3_to_policy_params

NAV = "metarl/Navigation2D-v0"


def sb3_model(env_id, policy_config, **kwargs):
    env = gymnasium.make(env_id)
    return PPO(
        "MlpPolicy",
        env,
        policy_kwargs=sb3_policy_kwargs(policy_config),
        device="cpu",
        seed=0,
        **kwargs,
    )


def sb3_log_prob_and_mean(model, obs, actions):
    _, log_prob, _ = model.policy.evaluate_actions(obs, actions)
    return log_prob, model.policy.get_distribution(obs).distribution.mean


def perturb(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g))


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_sb3_to_ours_gives_the_same_distribution(activation):
    config = PolicyConfig(hidden=(16, 8), activation=activation, init_std=0.5)
    model = sb3_model("metarl/HalfCheetahVel-v0", config)
    perturb(model.policy, 1)  # also moves log_std away from its initial value
    env = gymnasium.make("metarl/HalfCheetahVel-v0")
    policy = make_policy(env.observation_space, env.action_space, config.hidden, activation)
    params = sb3_to_policy_params(model, policy)

    g = torch.Generator().manual_seed(2)
    obs = torch.randn(32, env.observation_space.shape[0], generator=g)
    actions = torch.randn(32, env.action_space.shape[0], generator=g)
    expected_log_prob, expected_mean = sb3_log_prob_and_mean(model, obs, actions)
    dist = policy.distribution(params, obs)
    torch.testing.assert_close(dist.log_prob(actions), expected_log_prob.detach())
    torch.testing.assert_close(dist.mean, expected_mean.detach())
    # Copies, not views: training SB3 further must not move our parameters.
    before = {n: v.clone() for n, v in params.items()}
    perturb(model.policy, 3)
    for name, value in params.items():
        assert torch.equal(value, before[name])


def test_ours_to_sb3_round_trip():
    config = PolicyConfig(hidden=(8,), activation="tanh")
    model = sb3_model(NAV, config)
    env = gymnasium.make(NAV)
    policy = make_policy(env.observation_space, env.action_space, config.hidden, "tanh")
    perturb(policy, 4)
    params = {n: p.detach().clone() for n, p in policy.named_parameters()}
    policy_params_to_sb3(params, policy, model)

    obs = torch.randn(10, 2, generator=torch.Generator().manual_seed(5))
    actions = 0.1 * torch.randn(10, 2, generator=torch.Generator().manual_seed(6))
    sb3_log_prob, _ = sb3_log_prob_and_mean(model, obs, actions)
    torch.testing.assert_close(
        policy.distribution(params, obs).log_prob(actions), sb3_log_prob.detach()
    )
    back = sb3_to_policy_params(model.policy, policy)  # the ActorCriticPolicy works too
    for name, value in params.items():
        torch.testing.assert_close(back[name], value)


def test_mismatched_architecture_is_a_clear_error():
    model = sb3_model(NAV, PolicyConfig(hidden=(8,), activation="tanh"))
    env = gymnasium.make(NAV)
    wider = make_policy(env.observation_space, env.action_space, (9,), "tanh")
    with pytest.raises(ValueError, match="different architectures"):
        sb3_to_policy_params(model, wider)
    other_activation = make_policy(env.observation_space, env.action_space, (8,), "relu")
    with pytest.raises(ValueError, match="sb3_policy_kwargs"):
        sb3_to_policy_params(model, other_activation)
