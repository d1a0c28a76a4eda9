"""Config loading: strict keys and types, validation before any work, overrides, round trips."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pytest
import torch
import yaml

from metarl.errors import ConfigError
from metarl.run.config import config_from_dict, load_config, save_config
from metarl.run.config_schema import apply_overrides, field_docs, from_mapping
from metarl.supervised.config import SupervisedConfig

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
SHIPPED_CONFIGS = sorted(EXPERIMENTS.glob("*.yaml"))


def load(overrides: list[str]) -> SupervisedConfig:
    return config_from_dict({}, overrides)


def test_defaults_are_the_maml_sinusoid_setting():
    config = load([])
    assert (config.algorithm, config.iterations, config.meta_batch_size) == ("maml", 70_000, 25)
    assert (config.inner.steps, config.inner.lr, config.outer.lr) == (1, 0.01, 1e-3)
    assert config.task.family_config.support == 10


def test_unknown_key_names_it_the_valid_keys_and_the_closest_match():
    with pytest.raises(ConfigError) as error:
        load(["outer.lrr=0.1"])
    message = str(error.value)
    assert "unknown key 'outer.lrr'" in message
    assert "did you mean 'outer.lr'" in message
    assert "kind, lr, grad_clip" in message


def test_unknown_top_level_key():
    with pytest.raises(ConfigError, match=r"unknown key 'iteration'.*did you mean 'iterations'"):
        load(["iteration=3"])


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("outer.lr=fast", r"outer.lr must be a number, got 'fast'"),
        ("inner.steps=1.5", r"inner.steps must be an integer, got 1.5"),
        ("vectorize=1", r"vectorize must be true or false, got 1"),
        ("model.hidden=[40, x]", r"model.hidden\[1\] must be an integer"),
        ("outer=3", r"outer must be a mapping"),
        ("dtype=float16", r"dtype must be one of 'float32', 'float64', got 'float16'"),
        ("inner.lr_mode=per_param", r"did you mean 'per_parameter'"),
    ],
)
def test_wrong_types_name_the_key_and_expected_type(override, expected):
    with pytest.raises(ConfigError, match=expected):
        load([override])


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("outer.lr=-0.001", r"outer.lr must be > 0, got -0.001"),
        ("inner.lr=-1", r"inner lr must be > 0"),
        ("meta_batch_size=0", r"meta_batch_size must be >= 1, got 0"),
        ("iterations=0", r"iterations must be >= 1"),
        ("evaluation.tasks=0", r"evaluation.tasks must be >= 1"),
        ("evaluation.support_sizes=[]", r"evaluation.support_sizes must be a non-empty"),
        ("task.sinusoid.support=0", r"task.sinusoid.support must be >= 1"),
        ("logging.log_every=0", r"logging.log_every must be >= 1"),
        ("outer.grad_clip=0", r"outer.grad_clip must be > 0 or null"),
        ("imaml.lam=0", r"imaml.lam must be > 0"),
        ("name=a/b", r"name must be a non-empty folder-safe name"),
        ("evaluation.seed=0", r"evaluation.seed equals seed \(0\)"),
    ],
)
def test_bad_values_are_rejected_with_the_key(override, expected):
    with pytest.raises(ConfigError, match=expected):
        load([override])


def test_unknown_algorithm_and_family_suggest_the_right_one():
    with pytest.raises(ConfigError, match=r"algorithm 'mamll' is unknown.*did you mean 'maml'"):
        load(["algorithm=mamll"])
    with pytest.raises(ConfigError, match=r"task.family 'sinusiod'.*did you mean 'sinusoid'"):
        load(["task.family=sinusiod"])


def test_algorithm_that_cannot_learn_step_sizes_is_rejected():
    with pytest.raises(ConfigError, match="reptile does not learn inner step sizes"):
        load(["algorithm=reptile", "inner.lr_mode=per_parameter"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"no CUDA GPU is available.*--set device=cpu"):
        load(["device=cuda"])


def test_malformed_device_string():
    with pytest.raises(ConfigError, match=r"device must be 'cpu', 'cuda' or 'cuda:N'"):
        load(["device=gpu0"])


def test_overrides_parse_yaml_values_and_create_sections():
    config = load(["outer.lr=1e-4", "evaluation.support_sizes=[5, 10]", "outer.grad_clip=null"])
    assert config.outer.lr == 1e-4
    assert config.evaluation.support_sizes == (5, 10)
    assert config.outer.grad_clip is None
    assert apply_overrides({"a": 1}, ["b.c=[1, 2]"]) == {"a": 1, "b": {"c": [1, 2]}}


@pytest.mark.parametrize("override", ["novalue", "=3"])
def test_malformed_overrides(override):
    with pytest.raises(ConfigError, match="is not of the form key=value"):
        load([override])


def test_override_below_a_value_is_rejected():
    with pytest.raises(ConfigError, match=r"'outer.lr' is a value, not a section"):
        apply_overrides({"outer": {"lr": 0.1}}, ["outer.lr.x=3"])


def test_yaml_exponent_without_a_dot_reads_as_a_float(tmp_path):
    # YAML 1.1 reads 1e-3 as a string; float fields accept it anyway.
    path = tmp_path / "c.yaml"
    path.write_text("outer:\n  lr: 1e-3\n")
    assert load_config(path).outer.lr == 1e-3


def test_yaml_on_and_off_read_as_compile_modes(tmp_path):
    # YAML 1.1 reads a bare on / off as a boolean; the compile switch takes it as the word.
    path = tmp_path / "c.yaml"
    for word in ("on", "off", "auto"):
        path.write_text(f"compile: {word}\n")
        assert load_config(path).compile == word
    assert load(["compile=off"]).compile == "off"
    with pytest.raises(ConfigError, match=r"compile must be one of 'auto', 'on', 'off', got 'yes"):
        load(["compile=yes please"])


def test_load_config_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("meta_batch_size: 0\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: meta_batch_size must be >= 1"):
        load_config(path)
    path.write_text("outer: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    path.write_text("kind: supervisd\n")
    with pytest.raises(ConfigError, match=r"kind 'supervisd' is unknown.*'supervised'"):
        load_config(path)


def test_save_config_round_trip(tmp_path):
    config = load(
        ["outer.lr=3.3e-5", "outer.grad_clip=1.5", "evaluation.support_sizes=[1, 2]", "seed=7"]
    )
    save_config(config, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == config
    text = (tmp_path / "config.yaml").read_text()
    assert "# Step size of adam / sgd" in text


@pytest.mark.parametrize("path", SHIPPED_CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_load_and_round_trip(path, tmp_path):
    config = load_config(path)
    save_config(config, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == config


@pytest.mark.parametrize("path", SHIPPED_CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_have_a_comment_above_every_key(path):
    lines = path.read_text().splitlines()
    for index, line in enumerate(lines):
        if re.match(r"\s*[a-z_]+:", line):
            assert lines[index - 1].strip().startswith("#"), f"{path.name}:{index + 1}: {line}"


def test_the_comment_check_catches_a_bare_key(tmp_path):
    path = tmp_path / "bare.yaml"
    path.write_text("# the kind\nkind: rl\nseed: 1\n")
    with pytest.raises(AssertionError, match=r"bare.yaml:3: seed: 1"):
        test_shipped_configs_have_a_comment_above_every_key(path)


def test_sinusoid_maml_config_is_the_paper_setting():
    config = load_config(EXPERIMENTS / "sinusoid_maml.yaml")
    sinusoid = config.task.sinusoid
    assert (config.iterations, config.meta_batch_size, config.algorithm) == (70_000, 25, "maml")
    assert (config.inner.steps, config.inner.lr, config.outer.kind, config.outer.lr) == (
        1,
        0.01,
        "adam",
        1e-3,
    )
    assert (sinusoid.support, sinusoid.query, sinusoid.amplitude_min, sinusoid.amplitude_max) == (
        10,
        10,
        0.1,
        5.0,
    )
    assert (sinusoid.x_min, sinusoid.x_max, sinusoid.phase_max) == (-5.0, 5.0, torch.pi)
    assert config.model.hidden == (40, 40) and config.model.activation == "relu"
    assert config.evaluation.tasks == 600 and config.evaluation.support_sizes == (5, 10, 20)
    assert config.evaluation.seed != config.seed


def test_every_config_field_is_documented():
    def check(cls: type) -> None:
        docs = field_docs(cls)
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            assert docs.get(f.name), f"{cls.__name__}.{f.name} has no docstring"
            if dataclasses.is_dataclass(hints[f.name]):
                check(hints[f.name])

    check(SupervisedConfig)


@dataclasses.dataclass(frozen=True)
class Inner:
    sizes: tuple[int, ...] = (1,)
    pair: tuple[int, str] = (0, "a")


@dataclasses.dataclass(frozen=True)
class Outer:
    clip: float | None = None
    inner: Inner = dataclasses.field(default_factory=Inner)


def test_from_mapping_handles_optional_tuples_and_nested_dataclasses():
    built = from_mapping(Outer, yaml.safe_load("clip: 2\ninner: {sizes: [3, 4], pair: [1, b]}"))
    assert built == Outer(clip=2.0, inner=Inner(sizes=(3, 4), pair=(1, "b")))
    assert isinstance(built.clip, float)
    with pytest.raises(ConfigError, match=r"inner.pair must have 2 entries"):
        from_mapping(Outer, {"inner": {"pair": [1]}})
    with pytest.raises(ConfigError, match=r"clip must be a number or null, got 'x'"):
        from_mapping(Outer, {"clip": "x"})


def test_configs_of_the_earlier_schema_keep_working_with_a_warning():
    """``outer.optimizer`` (supervised) and RL's ``outer: <kind>`` with top-level ``trpo:``,
    ``ppo:`` and ``optimizer:`` sections, as configs and checkpoints before the shared ``outer:``
    section have them, load into the same config as the new keys."""
    with pytest.warns(UserWarning, match=r"outer.optimizer -> outer.kind"):
        old = config_from_dict({"outer": {"optimizer": "sgd", "lr": 0.5}})
    assert old == config_from_dict({"outer": {"kind": "sgd", "lr": 0.5}})

    rl = {"kind": "rl", "env": {"id": "metarl/Navigation2D-v0"}}
    with pytest.warns(UserWarning, match=r"ppo -> outer.ppo"):
        old = config_from_dict(
            {
                **rl,
                "outer": "ppo",
                "ppo": {"epochs": 2, "lr": 0.01, "max_grad_norm": 1.0},
                "trpo": {"max_kl": 0.02},
                "optimizer": {"lr": 0.3},
            }
        )
    new = config_from_dict(
        {
            **rl,
            "outer": {
                "kind": "ppo",
                "lr": 0.01,
                "grad_clip": 1.0,
                "ppo": {"epochs": 2},
                "trpo": {"max_kl": 0.02},
            },
        }
    )
    assert old == new
    with pytest.warns(UserWarning, match=r"optimizer.lr/grad_clip -> outer.lr/grad_clip"):
        old = config_from_dict(
            {**rl, "algorithm": "reptile", "outer": "sgd", "optimizer": {"lr": 0.3}}
        )
    assert old.outer.kind == "sgd" and old.outer.lr == 0.3


def test_a_bare_outer_kind_is_a_shorthand():
    config = load(["outer=sgd"])
    assert config.outer.kind == "sgd" and config.outer.lr == 1e-3


@pytest.mark.parametrize("kind", ["trpo", "ppo"])
def test_policy_outer_steps_are_refused_for_supervised_runs(kind):
    with pytest.raises(ConfigError, match=rf"outer.kind: {kind} measures the KL divergence"):
        load([f"outer.kind={kind}"])
