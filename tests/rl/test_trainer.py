"""The RL trainer end to end on tiny Navigation2D runs: files, outer steps, resume, evaluation."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from metarl.errors import ConfigError, NonFiniteError
from metarl.rl.config import PolicyConfig, RLConfig
from metarl.rl.objective import step_on_episodes
from metarl.rl.sb3_baselines import BaselineSettings, default_baseline_dir, train_baseline
from metarl.run.config import config_from_dict, load_config
from metarl.run.trainer import make_trainer

TINY = {
    "kind": "rl",
    "env": {"id": "metarl/Navigation2D-v0"},
    "meta_batch_size": 3,
    "episodes_per_task": 2,
    "horizon": 10,
    "iterations": 2,
    "policy": {"hidden": [8], "activation": "tanh"},
    "outer": {"kind": "trpo", "trpo": {"cg_iterations": 3}},
    "evaluation": {"tasks": 3, "adapt_steps": 1},
    "logging": {"progress": False, "checkpoint_every": 1},
}


def tiny_config(tmp_path, *overrides: str) -> RLConfig:
    return config_from_dict(TINY, [f"logging.run_root={tmp_path / 'runs'}", *overrides])


def params_of(trainer):
    return {k: v.detach().clone() for k, v in trainer.learner.state_dict().items()}


def test_train_writes_the_run_folder(tmp_path):
    trainer = make_trainer(tiny_config(tmp_path), tmp_path / "run")
    curves = trainer.train()
    run = tmp_path / "run"
    for name in ("config.yaml", "checkpoint.pt", "evaluation.json", "evaluation.png"):
        assert (run / name).is_file(), name
    assert list(run.glob("events.out.tfevents.*"))
    assert load_config(run / "config.yaml") == trainer.config
    assert set(curves) == {"meta-learned", "random init"}
    report = json.loads((run / "evaluation.json").read_text())
    assert report["curves"]["meta-learned"]["steps"] == [0, 1]
    assert len(report["curves"]["random init"]["per_task"]) == 3
    assert "step 1" in trainer.summary(curves)


@pytest.mark.parametrize(
    "overrides",
    [
        ["outer.kind=trpo"],
        ["outer.kind=ppo", "outer.ppo.epochs=2"],
        ["outer.kind=adam", "algorithm=fomaml"],
        ["outer.kind=sgd", "algorithm=reptile", "outer.lr=0.5"],
        ["outer.kind=adam", "algorithm=imaml", "inner.steps=2"],
        ["outer.kind=trpo", "algorithm=metasgd", "inner_loss=dice"],
        ["outer.kind=trpo", "inner_loss=reinforce", "inner.steps=2"],
    ],
)
def test_every_outer_step_updates_the_policy(tmp_path, overrides):
    trainer = make_trainer(tiny_config(tmp_path, *overrides), tmp_path / "run")
    before = params_of(trainer)
    result = trainer.train_iteration()
    after = params_of(trainer)
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert set(result.seconds) == {"sampling", "adaptation", "outer"}
    sampled = result.batch.details
    assert sampled.returns_pre.shape == sampled.returns_post.shape == (3,)
    assert all(torch.isfinite(v).all() for v in result.metrics.values())


@pytest.mark.parametrize(("algorithm", "sampled"), [("maml", 3), ("reptile", 3), ("imaml", 1)])
def test_each_inner_step_samples_with_the_policy_adapted_so_far(tmp_path, algorithm, sampled):
    outer = "trpo" if algorithm == "maml" else "sgd"
    config = tiny_config(tmp_path, f"algorithm={algorithm}", f"outer.kind={outer}", "inner.steps=3")
    trainer = make_trainer(config, tmp_path / "run")
    experiment = trainer.experiment
    details = experiment.draw(0, lambda phase: None).details
    supports, query = details.supports, details.query
    assert len(supports) == sampled
    meta_params = trainer.learner.meta_params()
    params = {k: v.detach().expand(3, *v.shape) for k, v in experiment.policy.named_parameters()}
    for step in range(1, sampled):
        params = step_on_episodes(
            experiment.problem,
            params,
            supports[step - 1],
            meta_params,
            experiment.algorithm.inner,
            step - 1,
        )
        episodes = supports[step]  # (H, T, E, ...): the stored log-probs are the sampling policy's
        log_probs = torch.func.vmap(
            lambda p, obs, act: experiment.policy.distribution(p, obs).log_prob(act),
            in_dims=(0, 1, 1),
            out_dims=1,
        )(params, episodes.observations, episodes.actions)
        torch.testing.assert_close(log_probs * episodes.mask, episodes.log_probs)
    result = trainer.train_iteration()  # iteration 0 again: the same episodes
    metrics = result.metrics
    assert {f"train/return_step{j}" for j in range(1, sampled)} <= set(metrics)
    env_steps = sum(episodes.mask.sum() for episodes in [*supports, query])
    counted = metrics["perf/env_steps_per_s"].double() * result.seconds["sampling"]
    torch.testing.assert_close(counted, env_steps.double(), rtol=1e-6, atol=0.0)


def test_resumed_run_continues_identically(tmp_path):
    straight = make_trainer(tiny_config(tmp_path, "iterations=3"), tmp_path / "straight")
    straight_metrics = [straight.train_iteration().metrics for _ in range(3)]

    first = make_trainer(tiny_config(tmp_path, "iterations=1"), tmp_path / "resumed")
    first.train()
    config = tiny_config(tmp_path, "iterations=3")
    resumed = make_trainer(config, tmp_path / "resumed")
    resumed.restore()
    assert resumed.iteration == 1
    assert straight.iteration == 3
    resumed_metrics = [resumed.train_iteration().metrics for _ in range(2)]
    for expected, got in zip(straight_metrics[1:], resumed_metrics, strict=True):
        for key in expected:
            if not key.startswith("perf/"):
                assert torch.equal(expected[key], got[key]), key
    for key, value in params_of(straight).items():
        assert torch.equal(value, params_of(resumed)[key]), key


def test_resume_restores_the_ppo_optimizer_state(tmp_path):
    config = tiny_config(tmp_path, "outer.kind=ppo", "outer.ppo.epochs=2", "iterations=1")
    trainer = make_trainer(config, tmp_path / "run")
    trainer.train()
    restored = make_trainer(config, tmp_path / "run")
    restored.restore()
    assert (
        restored.outer.optimizer.state_dict()["state"].keys()
        == trainer.outer.optimizer.state_dict()["state"].keys()
    )
    step = restored.outer.optimizer.state_dict()["state"][0]["step"]
    assert float(step) == 2.0


def test_non_finite_reward_stops_with_the_iteration_named(tmp_path, monkeypatch):
    trainer = make_trainer(tiny_config(tmp_path), tmp_path / "run")
    before = params_of(trainer)
    sampler = trainer.experiment.sampler
    sample = sampler.sample

    def poisoned(*args, **kwargs):
        episodes = sample(*args, **kwargs)
        return episodes.replace(rewards=episodes.rewards * float("nan"))

    monkeypatch.setattr(sampler, "sample", poisoned)
    with pytest.raises(NonFiniteError, match=r"\(iteration 1\.\)"):
        trainer.train_iteration()
    for key, value in params_of(trainer).items():
        assert torch.equal(value, before[key])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["env.id=metarl/Navigation-v0"], "did you mean 'metarl/Navigation2D-v0'"),
        (["algorithm=reptile"], "outer.kind: trpo needs"),
        (["outer=lbfgs"], "outer.kind 'lbfgs' is unknown"),
        (["gamma=1.5"], "gamma must be in"),
        (["sampler_backend=mjx"], "sampler_backend 'mjx' is unknown"),
        (["policy.activation=gelu"], "policy.activation must be one of"),
        (["evaluation.adapt_steps=-1"], "evaluation.adapt_steps must be >= 0"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        tiny_config(tmp_path, *overrides)


def test_shipped_configs_load():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "experiments"
    rl_configs = [p for p in folder.glob("*.yaml") if "kind: rl" in p.read_text()]
    assert rl_configs
    for path in rl_configs:
        assert isinstance(load_config(path), RLConfig), path


def test_evaluation_is_reproducible_and_starts_from_the_sampling_policy(tmp_path):
    trainer = make_trainer(tiny_config(tmp_path), tmp_path / "run")
    first = trainer.evaluate()
    second = trainer.evaluate()
    assert first["meta-learned"] == second["meta-learned"]
    # Untrained, the meta-learner is the random initialisation: same rollouts, same numbers.
    assert first["meta-learned"] == first["random init"]
    trainer.train_iteration()
    trained = trainer.evaluate()
    assert trained["random init"] == first["random init"]  # still the initialisation
    assert trained["meta-learned"] != first["meta-learned"]


def test_evaluation_scores_saved_baselines_on_the_same_plot(tmp_path):
    config = tiny_config(tmp_path)
    settings = BaselineSettings(
        timesteps=32,
        horizon=10,
        n_steps=16,
        batch_size=16,
        n_epochs=1,
        policy=PolicyConfig(hidden=(8,), activation="tanh"),
    )
    for kind in ("pretrained", "oracle"):
        folder = default_baseline_dir(config.logging.run_root, kind, config.env.id)
        train_baseline(kind, config.env.id, settings, folder)
    trainer = make_trainer(config, tmp_path / "run")
    curves = trainer.evaluate_to(tmp_path / "out")
    assert set(curves) == {"meta-learned", "random init", "pretrained", "oracle"}
    assert curves["pretrained"].steps == [0, 1]
    assert curves["oracle"].steps == [0]
    assert (tmp_path / "out" / "evaluation.png").is_file()


def test_missing_baseline_folder_is_a_config_error(tmp_path):
    config = tiny_config(tmp_path, f"evaluation.baselines=[{tmp_path / 'nothing'}]")
    with pytest.raises(ConfigError, match=r"holds no policy\.pt"):
        make_trainer(config, tmp_path / "run").evaluate()


def test_navigation_rollout_plot(tmp_path):
    trainer = make_trainer(tiny_config(tmp_path, "evaluation.video=true"), tmp_path / "run")
    experiment = trainer.experiment
    path = experiment.held_out.record_rollouts(trainer.learner.meta_params(), tmp_path / "out")
    assert path.name == "rollout.png" and path.stat().st_size > 0


VIDEO_WITHOUT_RENDERER = """
import sys
from pathlib import Path

from metarl.errors import ConfigError
from metarl.run.trainer import make_trainer
from test_trainer import tiny_config

root = Path(sys.argv[1])
config = tiny_config(root, "env.id=metarl/HalfCheetahVel-v0", "evaluation.video=true")
try:
    make_trainer(config, root / "run")
except ConfigError as error:
    print("CONFIG ERROR:", error)
"""


def test_video_without_a_renderer_fails_before_any_work(tmp_path):
    # A fresh process: MuJoCo and Gymnasium pick their GL backend once per process. Gymnasium
    # renders with egl, osmesa or glfw only, so "glx" fails the same way on every machine.
    env = {**os.environ, "MUJOCO_GL": "glx", "PYTHONPATH": str(Path(__file__).parent)}
    done = subprocess.run(
        [sys.executable, "-c", VIDEO_WITHOUT_RENDERER, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert "CONFIG ERROR: evaluation.video: cannot render metarl/HalfCheetahVel-v0" in done.stdout
    assert "MUJOCO_GL=egl" in done.stdout and "MUJOCO_GL=osmesa" in done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "run").exists()


def test_mujoco_rollout_gif_or_a_clear_message(tmp_path):
    import gymnasium

    import envs
    from metarl.rl.policies import make_policy
    from metarl.rl.rollout_video import RENDER_HELP, record_rollouts

    env_id = "metarl/HalfCheetahVel-v0"
    env = gymnasium.make(env_id)
    policy = make_policy(env.observation_space, env.action_space, (8,), "tanh")
    params = {k: v.detach() for k, v in policy.named_parameters()}
    task = envs.task_family(env_id).sample_tasks(1, 0)[0]
    try:
        path = record_rollouts(policy, params, params, env_id, task, 6, tmp_path, seed=0)
    except RuntimeError as error:
        assert RENDER_HELP in str(error)
        pytest.skip(f"no offscreen rendering here: {error}")
    from PIL import Image

    with Image.open(path) as gif:
        assert gif.n_frames == 3  # 6 steps, every second frame
        assert gif.size == (640, 240)  # before | after, side by side


def test_threads_setting_is_applied(tmp_path):
    previous = torch.get_num_threads()
    try:
        make_trainer(tiny_config(tmp_path, "threads=1"), tmp_path / "run")
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(previous)
