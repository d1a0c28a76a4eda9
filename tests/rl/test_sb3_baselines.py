"""The SB3 baseline pipeline: task resampling, raw actions, training, saving, the CLI."""

import gymnasium
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO

import envs
from metarl.rl.config import PolicyConfig
from metarl.rl.sb3_baselines import BaselineSettings, TaskResampling, load_baseline, train_baseline
from metarl.rl.sb3_weights import sb3_to_policy_params

NAV = "metarl/Navigation2D-v0"


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

    from metarl.rl.sb3_baselines import add_baseline

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

    from metarl.rl.sb3_baselines import add_baseline

    parser = argparse.ArgumentParser()
    add_baseline(parser.add_subparsers())
    args = parser.parse_args(["baseline", "oracle", "HalfCheetahSpeed"])
    assert args.handler(args) == 2
    assert "unknown environment 'HalfCheetahSpeed'" in capsys.readouterr().err
