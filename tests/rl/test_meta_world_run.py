"""A Meta-World run end to end: training logs success next to the returns, evaluation reports
success by step and by class, ``--protocol metaworld`` sets Meta-World's protocol, and bad
Meta-World input is one clear error before any work."""

import json

import pytest

from metarl.errors import ConfigError
from metarl.run.config import config_from_dict
from metarl.run.curves import read_scalars
from metarl.run.trainer import make_trainer

pytest.importorskip("metaworld", reason="Meta-World is not installed (README: Meta-World)")

TINY = {
    "kind": "rl",
    "env": {"id": "metarl/ML1-reach-v3-v0"},
    "meta_batch_size": 2,
    "episodes_per_task": 2,
    "horizon": 20,
    "iterations": 1,
    "policy": {"hidden": [8], "activation": "tanh"},
    "outer": {"kind": "trpo", "trpo": {"cg_iterations": 2}},
    "evaluation": {"tasks": 2, "adapt_steps": 1, "random_init": False},
    "logging": {"progress": False, "checkpoint_every": 1, "log_every": 1},
}


@pytest.fixture(autouse=True)
def split_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("METARL_CACHE_DIR", str(tmp_path / "cache"))


def test_training_and_evaluation_report_success(tmp_path):
    config = config_from_dict(TINY, [f"logging.run_root={tmp_path}"])
    trainer = make_trainer(config, tmp_path / "run")
    curves = trainer.train()
    scalars = read_scalars(tmp_path / "run")
    for name in ("train/success_pre", "train/success_post", "eval/meta_learned/pre_adapt_success"):
        ((_step, value),) = scalars[name]
        assert 0.0 <= value <= 1.0, name
    curve = curves["meta-learned"]
    assert curve.success_mean is not None and len(curve.success_mean) == 2
    assert curve.per_class_success is not None and set(curve.per_class_success) == {"reach-v3"}
    report = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert len(report["curves"]["meta-learned"]["per_task_success"]) == 2
    assert "success rate" in trainer.summary(curves)


def test_the_metaworld_protocol_scores_three_episodes_after_ten(tmp_path, monkeypatch):
    from metarl.rl.sampler import MetaSampler
    from metarl.run.cli import main

    config = config_from_dict(TINY, [f"logging.run_root={tmp_path}"])
    make_trainer(config, tmp_path / "run").train()
    shapes = []
    original = MetaSampler.sample

    def recording(self, policy, params, tasks, *args, **kwargs):
        shapes.append((len(tasks), self.episodes_per_task))
        return original(self, policy, params, tasks, *args, **kwargs)

    monkeypatch.setattr(MetaSampler, "sample", recording)
    code = main(["evaluate", str(tmp_path / "run"), "--protocol", "metaworld", "--tasks", "2"])
    assert code == 0
    # Meta-World's metalearning_evaluation: 10 adaptation episodes, one step, 3 scored episodes.
    assert shapes == [(2, 10), (2, 3)]
    saved = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert saved["curves"]["meta-learned"]["steps"] == [0, 1]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["horizon=501"], "exceeds Meta-World's 500-step limit"),
        (["env.id=metarl/ML1-psh-v3-v0"], "did you mean 'metarl/ML1-push-v3-v0'"),
        (["evaluation.final_episodes=0"], "evaluation.final_episodes must be >= 1"),
    ],
)
def test_bad_meta_world_input_is_one_clear_error(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(TINY, [f"logging.run_root={tmp_path}", *overrides])


def test_missing_meta_world_is_a_config_error_with_the_install_command(monkeypatch):
    from envs.meta_world import compat

    def missing():
        raise compat.MetaWorldUnavailable(f"install it with: {compat.INSTALL_COMMAND}")

    monkeypatch.setattr(compat, "load_metaworld", missing)
    import envs.meta_world

    monkeypatch.setattr(envs.meta_world, "load_metaworld", missing)
    with pytest.raises(ConfigError, match="pip install --no-deps metaworld"):
        config_from_dict(TINY)


def test_protocol_metaworld_refuses_other_runs(tmp_path, capsys):
    from metarl.run.cli import main

    nav = dict(TINY, env={"id": "metarl/Navigation2D-v0"}, horizon=5)
    make_trainer(config_from_dict(nav, [f"logging.run_root={tmp_path}"]), tmp_path / "nav").train()
    assert main(["evaluate", str(tmp_path / "nav"), "--protocol", "metaworld"]) == 2
    assert "applies to Meta-World runs" in capsys.readouterr().err
