"""Weight transfer between SB3's MlpPolicy and our policies, and the baseline pipeline."""

import gymnasium
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO

import envs
from metarl.rl.config import PolicyConfig
from metarl.rl.policies import make_policy
from metarl.rl.sb3 import (
    BaselineSettings,
    TaskResampling,
    load_baseline,
    policy_params_to_sb3,
    sb3_policy_kwargs,
    sb3_to_policy_params,
    train_baseline,
)

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


def test_task_resampling_draws_a_new_task_each_reset():
    env = TaskResampling(gymnasium.make(NAV), np.random.default_rng(0))
    goals = []
    for _ in range(3):
        env.reset()
        goals.append(env.unwrapped.get_task())
    assert len(set(goals)) == 3
    expected = envs.Navigation2D.sample_tasks(3, np.random.default_rng(0))
    assert goals == expected


def test_sb3_trains_on_the_raw_gaussian_action(tmp_path, monkeypatch):
    """SB3 would clip to the Box bounds; our sampler charges the raw action's control cost, so
    the baseline must be trained on the raw action too."""
    stepped = []
    make = gymnasium.make

    class Recorder(gymnasium.Wrapper):
        def step(self, action):
            stepped.append(np.array(action))
            return self.env.step(action)

    monkeypatch.setattr(gymnasium, "make", lambda *args, **kwargs: Recorder(make(*args, **kwargs)))
    settings = BaselineSettings(
        timesteps=32,
        horizon=16,
        n_steps=32,
        batch_size=16,
        n_epochs=1,
        policy=PolicyConfig(hidden=(8,), activation="tanh", init_std=3.0),
    )
    train_baseline("pretrained", "HalfCheetahVel", settings, tmp_path)
    assert len(stepped) == 32
    assert np.abs(np.stack(stepped)).max() > 1.5  # std 3: far outside [-1, 1], not clipped


@pytest.mark.parametrize("kind", ["pretrained", "oracle"])
def test_train_baseline_saves_a_loadable_policy(tmp_path, kind):
    settings = BaselineSettings(
        timesteps=64,
        horizon=20,
        n_steps=32,
        batch_size=16,
        n_epochs=1,
        policy=PolicyConfig(hidden=(8,), activation="tanh"),
    )
    trained = train_baseline(kind, "Navigation2D", settings, tmp_path)
    loaded = load_baseline(tmp_path)
    assert loaded.kind == kind
    assert loaded.env_id == ("metarl/Navigation2DOracle-v0" if kind == "oracle" else NAV)
    assert loaded.family_env_id == NAV
    for name, value in trained.params.items():
        torch.testing.assert_close(loaded.params[name], value)
    # The saved parameters are the SB3 zip's actor.
    model = PPO.load(tmp_path / "sb3_model.zip", device="cpu")
    policy = loaded.build_policy()
    for name, value in sb3_to_policy_params(model, policy).items():
        torch.testing.assert_close(loaded.params[name], value)


def test_baseline_command_trains_into_the_default_folder(tmp_path, capsys):
    import argparse

    from metarl.rl.sb3 import add_baseline

    parser = argparse.ArgumentParser()
    add_baseline(parser.add_subparsers())
    config = tmp_path / "nav.yaml"
    config.write_text(
        "kind: rl\nenv: {id: metarl/Navigation2D-v0}\nhorizon: 20\n"
        f"policy: {{hidden: [8], activation: tanh}}\nlogging: {{run_root: {tmp_path / 'runs'}}}\n"
    )
    args = parser.parse_args(
        ["baseline", "pretrained", "Navigation2D", "--config", str(config), "--timesteps", "64"]
    )
    assert args.handler(args) == 0
    loaded = load_baseline(tmp_path / "runs" / "baselines" / "Navigation2D-pretrained")
    assert loaded.policy == PolicyConfig(hidden=(8,), activation="tanh")
    assert "baseline saved" in capsys.readouterr().out


def test_baseline_command_rejects_an_unknown_env(capsys):
    import argparse

    from metarl.rl.sb3 import add_baseline

    parser = argparse.ArgumentParser()
    add_baseline(parser.add_subparsers())
    args = parser.parse_args(["baseline", "oracle", "HalfCheetahSpeed"])
    assert args.handler(args) == 2
    assert "unknown environment 'HalfCheetahSpeed'" in capsys.readouterr().err
