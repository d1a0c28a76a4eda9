"""Every documented CLI mistake, through the real entry point (``python -m metarl`` in a fresh
process): exit status 2, exactly one ``error:`` message naming the problem, no traceback, and no
file of an existing run folder changed."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml

from metarl.run.cli import main

REPO = Path(__file__).resolve().parents[2]
EXPERIMENTS = REPO / "experiments"

TINY = {
    "name": "tiny",
    "iterations": 2,
    "meta_batch_size": 2,
    "task": {"sinusoid": {"support": 3, "query": 3}},
    "model": {"hidden": [8]},
    "evaluation": {"tasks": 2, "steps": 1, "support_sizes": [3]},
    "logging": {"log_every": 1, "checkpoint_every": 1, "progress": False},
}
"""A sinusoid run that trains in a fraction of a second."""


@dataclass(frozen=True)
class Paths:
    """What the mistakes point at, all under the test's ``tmp_path``."""

    tmp: Path
    config: Path
    """The tiny config, its run root under ``tmp``."""
    run: Path
    """A trained run folder."""
    garbage: Path
    """A run folder whose checkpoint.pt is garbage bytes."""
    hostile: Path
    """A run folder whose checkpoint.pt holds a pickled callable."""
    file: Path
    """A regular file."""


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("trained")
    config = folder / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    assert main(["train", str(config), "--run-dir", str(folder / "run")]) == 0
    return folder / "run"


def make_paths(tmp: Path, trained: Path) -> Paths:
    """A fresh folder of things to point at: each mistake gets its own."""
    config = tmp / "tiny.yaml"
    tiny = {**TINY, "logging": {**TINY["logging"], "run_root": str(tmp / "runs")}}
    config.write_text(yaml.safe_dump(tiny))
    folders = {name: tmp / name for name in ("run", "garbage", "hostile")}
    for folder in folders.values():
        shutil.copytree(trained, folder)
    (folders["garbage"] / "checkpoint.pt").write_bytes(b"garbage bytes \x00\x01\x02")
    torch.save({"metarl_checkpoint": 1, "payload": os.system}, folders["hostile"] / "checkpoint.pt")
    (tmp / "file").write_text("a regular file")
    return Paths(tmp, config, file=tmp / "file", **folders)


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


@dataclass(frozen=True)
class Mistake:
    argv: Callable[[Paths], list[str]]
    expected: tuple[str, ...]
    """Fragments of the error message."""
    run: str | None = None
    """The run folder (a :class:`Paths` field) whose files must stay unchanged."""


MISTAKES: dict[str, Mistake] = {
    "missing config file": Mistake(
        lambda p: ["train", str(p.tmp / "nope.yaml")], ("nope.yaml' does not exist",)
    ),
    "bad key": Mistake(
        lambda p: ["train", str(p.config), "--set", "outer.lrr=1"], ("did you mean 'outer.lr'",)
    ),
    "bad type": Mistake(
        lambda p: ["train", str(p.config), "--set", "outer.lr=abc"], ("outer.lr must be a number",)
    ),
    "bad value": Mistake(
        lambda p: ["train", str(p.config), "--set", "outer.lr=-1"], ("outer.lr must be > 0",)
    ),
    "non-mapping YAML": Mistake(
        lambda p: ["train", write(p.tmp / "list.yaml", "- a\n- b\n")], ("must be a mapping",)
    ),
    "unsafe YAML tag": Mistake(
        lambda p: [
            "train",
            write(p.tmp / "unsafe.yaml", "name: !!python/object/apply:os.system ['echo hi']\n"),
        ],
        ("not valid YAML", "python/object"),
    ),
    "bad --set syntax": Mistake(
        lambda p: ["train", str(p.config), "--set", "outer.lr"], ("is not of the form key=value",)
    ),
    "unknown algorithm": Mistake(
        lambda p: ["train", str(p.config), "--set", "algorithm=mamll"],
        ("algorithm 'mamll' is unknown",),
    ),
    "unknown env id": Mistake(
        lambda p: [
            "train",
            str(EXPERIMENTS / "navigation2d_maml_trpo.yaml"),
            "--set",
            "env.id=metarl/Nope-v0",
            "--set",
            f"logging.run_root={p.tmp / 'runs'}",
        ],
        ("env.id 'metarl/Nope-v0' is not a registered metarl env",),
    ),
    "bad checkpoint (resume)": Mistake(
        lambda p: ["train", "--resume", str(p.garbage)], ("is corrupt or truncated",), "garbage"
    ),
    "bad checkpoint (evaluate)": Mistake(
        lambda p: ["evaluate", str(p.garbage)], ("is corrupt or truncated",), "garbage"
    ),
    "hostile checkpoint (resume)": Mistake(
        lambda p: ["train", "--resume", str(p.hostile)],
        ("contains objects other than tensors and plain data", "will not be loaded"),
        "hostile",
    ),
    "hostile checkpoint (evaluate)": Mistake(
        lambda p: ["evaluate", str(p.hostile)],
        ("contains objects other than tensors and plain data", "will not be loaded"),
        "hostile",
    ),
    "bad Omniglot data root": Mistake(
        lambda p: [
            "train",
            str(EXPERIMENTS / "omniglot_maml.yaml"),
            "--set",
            "device=cpu",
            "--data-root",
            str(p.tmp / "no-omniglot"),
        ],
        ("--data-root", "no-omniglot does not exist"),
    ),
    "device cuda without a GPU": Mistake(
        lambda p: ["train", str(p.config), "--set", "device=cuda"], ("no CUDA GPU is available",)
    ),
    "unwritable run folder (--run-dir)": Mistake(
        lambda p: ["train", str(p.config), "--run-dir", str(p.file / "run")],
        ("cannot write the folder", "file is a file, not a folder", "--run-dir"),
    ),
    "unwritable run folder (logging.run_root)": Mistake(
        lambda p: ["train", str(p.config), "--set", f"logging.run_root={p.file / 'runs'}"],
        ("cannot write the folder", "file is a file, not a folder", "logging.run_root"),
    ),
    "resume a folder without a checkpoint": Mistake(
        lambda p: ["train", "--resume", str(p.tmp)], ("checkpoint.pt' does not exist",)
    ),
    "resume with a results-changing --set": Mistake(
        lambda p: ["train", "--resume", str(p.run), "--set", "outer.lr=0.5"],
        ("--set outer.lr cannot change when resuming",),
        "run",
    ),
    "evaluate --tasks 0": Mistake(
        lambda p: ["evaluate", str(p.run), "--tasks", "0"], ("--tasks must be >= 1",), "run"
    ),
    "evaluate --adapt-steps -1": Mistake(
        lambda p: ["evaluate", str(p.run), "--adapt-steps", "-1"],
        ("--steps (--adapt-steps) must be >= 0",),
        "run",
    ),
    "evaluate --support 0": Mistake(
        lambda p: ["evaluate", str(p.run), "--support", "5", "0"],
        ("--support sizes must be >= 1",),
        "run",
    ),
    "evaluate --out under a file": Mistake(
        lambda p: ["evaluate", str(p.run), "--out", str(p.file / "report")],
        ("cannot write the folder", "--out"),
        "run",
    ),
    "evaluate a folder that is no run": Mistake(
        lambda p: ["evaluate", str(p.tmp)], ("has no config.yaml",)
    ),
}


NON_FINITE_RUN = Mistake(
    lambda p: [
        "train",
        str(EXPERIMENTS / "navigation2d_maml_trpo.yaml"),
        "--run-dir",
        str(p.tmp / "nan-run"),
        *("--set", "policy.init_std=1e308"),  # a float32 std of inf: the first action overflows
        *("--set", "iterations=1", "--set", "meta_batch_size=2", "--set", "episodes_per_task=2"),
        *("--set", "horizon=5", "--set", "logging.progress=false"),
    ],
    ("non-finite action from the policy at step 0 of tasks [0, 1]", "not passed to the simulator"),
)
"""Not an input mistake (exit status 1), but the same one-message rule."""


def folder_digest(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stderr: str
    changed: bool
    """Whether a file of the watched run folder changed."""


def run_mistake(mistake: Mistake, paths: Paths) -> Outcome:
    """``python -m metarl`` with the mistake's arguments, from the repository root."""
    watched = getattr(paths, mistake.run) if mistake.run else None
    before = folder_digest(watched) if watched else None
    result = subprocess.run(
        [sys.executable, "-m", "metarl", *mistake.argv(paths)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    changed = watched is not None and folder_digest(watched) != before
    return Outcome(result.returncode, result.stderr, changed)


def assert_one_error(outcome: Outcome, expected: tuple[str, ...]) -> None:
    assert "Traceback" not in outcome.stderr, outcome.stderr
    assert outcome.stderr.count("error:") == 1, outcome.stderr
    message = outcome.stderr[outcome.stderr.index("error:") :]
    for fragment in expected:
        assert fragment in message, message


SLOW = {
    "bad checkpoint (evaluate)",
    "hostile checkpoint (evaluate)",
    "unwritable run folder (logging.run_root)",
    "resume with a results-changing --set",
    "evaluate a folder that is no run",
}
"""Variants of a mistake the default run already covers (each process imports torch: ~1 s)."""


@pytest.mark.parametrize(
    "name",
    [pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name for name in MISTAKES],
)
def test_cli_mistake_is_one_clear_error(name: str, tmp_path: Path, trained: Path) -> None:
    if name == "device cuda without a GPU" and torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    outcome = run_mistake(MISTAKES[name], make_paths(tmp_path, trained))
    assert outcome.returncode == 2, outcome.stderr
    assert_one_error(outcome, MISTAKES[name].expected)
    assert not outcome.changed, "a file of the run folder changed"
    assert not (tmp_path / "runs").exists(), "a run folder was created"


def test_non_finite_actions_stop_an_rl_run_with_one_message(tmp_path: Path, trained: Path) -> None:
    outcome = run_mistake(NON_FINITE_RUN, make_paths(tmp_path, trained))
    assert outcome.returncode == 1, outcome.stderr
    assert_one_error(outcome, NON_FINITE_RUN.expected)
