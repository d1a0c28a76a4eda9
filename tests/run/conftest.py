"""Helpers shared by the runner tests: tiny configs and reading TensorBoard events back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from metarl.run.config import config_from_dict
from metarl.run.curves import read_scalars as read_scalars_of
from metarl.supervised.config import SupervisedConfig

TINY: dict[str, Any] = {
    "name": "tiny",
    "iterations": 6,
    "meta_batch_size": 4,
    "task": {"sinusoid": {"support": 5, "query": 5}},
    "model": {"hidden": [16, 16]},
    "evaluation": {"tasks": 8, "steps": 2, "support_sizes": [5]},
    "logging": {"log_every": 1, "checkpoint_every": 2, "progress": False},
}
"""A sinusoid MAML run small enough to train in well under a second."""


@pytest.fixture
def tiny_config(tmp_path: Path) -> Callable[..., SupervisedConfig]:
    """``tiny_config(overrides=())``: the tiny config, run root under ``tmp_path``, with
    ``--set`` style overrides."""

    def make(overrides: Sequence[str] = ()) -> SupervisedConfig:
        data = {**TINY, "logging": {**TINY["logging"], "run_root": str(tmp_path / "runs")}}
        return config_from_dict(data, list(overrides))

    return make


@pytest.fixture
def tiny_config_file(tmp_path: Path) -> Path:
    """The tiny config written as a YAML file."""
    path = tmp_path / "tiny.yaml"
    data = {**TINY, "logging": {**TINY["logging"], "run_root": str(tmp_path / "runs")}}
    path.write_text(yaml.safe_dump(data))
    return path


Scalars = dict[str, list[tuple[int, float]]]


@pytest.fixture
def read_scalars() -> Callable[[Path], Scalars]:
    """``read_scalars(run_dir)``: every scalar series of a run."""
    return read_scalars_of


@pytest.fixture
def training_scalars() -> Callable[[Path], Scalars]:
    """``training_scalars(run_dir)``: the scalars that must repeat exactly for the same seed
    (wall-clock rates left out)."""

    def read(run_dir: Path) -> Scalars:
        return {k: v for k, v in read_scalars_of(run_dir).items() if not k.startswith("perf/")}

    return read
