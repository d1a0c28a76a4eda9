"""The command line, run in-process with tiny budgets: train, resume, evaluate, list, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from metarl.outer.gradient import GradientStep
from metarl.run.checkpoint import load_checkpoint
from metarl.run.cli import main
from metarl.supervised.tasks import write_synthetic_omniglot

REPO = Path(__file__).resolve().parents[2]


def test_train_writes_a_complete_run_folder(tiny_config_file, tmp_path, capsys):
    assert main(["train", str(tiny_config_file), "--set", "iterations=3"]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert run_dir.name.startswith("tiny-")
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.yaml", "checkpoint.pt", "evaluation.json", "evaluation.png"} <= names
    assert load_checkpoint(run_dir / "checkpoint.pt")["iteration"] == 3
    assert "iterations: 3" in (run_dir / "config.yaml").read_text()
    out = capsys.readouterr().out
    assert f"run directory: {run_dir}" in out
    assert "K=5 (8 tasks) query loss" in out


def test_evaluate_rewrites_the_report_with_new_settings(tiny_config_file, tmp_path):
    run_dir = tmp_path / "run"
    assert main(["train", str(tiny_config_file), "--run-dir", str(run_dir)]) == 0
    out = tmp_path / "report"
    args = ["evaluate", str(run_dir), "--tasks", "6", "--steps", "1", "--support", "3", "4"]
    assert main([*args, "--out", str(out)]) == 0
    report = json.loads((out / "evaluation.json").read_text())
    assert set(report["curves"]) == {"K=3", "K=4"}
    assert report["curves"]["K=3"]["num_tasks"] == 6
    assert report["curves"]["K=3"]["steps"] == [0, 1]
    assert (out / "evaluation.png").is_file()


def test_evaluate_reproduces_the_training_report(tiny_config_file, tmp_path):
    run_dir = tmp_path / "run"
    assert main(["train", str(tiny_config_file), "--run-dir", str(run_dir)]) == 0
    trained = json.loads((run_dir / "evaluation.json").read_text())["curves"]
    assert main(["evaluate", str(run_dir), "--out", str(tmp_path / "again")]) == 0
    again = json.loads((tmp_path / "again" / "evaluation.json").read_text())["curves"]
    assert again == trained


def test_interrupted_run_resumes_to_the_same_numbers(
    tiny_config_file, tmp_path, monkeypatch, capsys, training_scalars
):
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    assert main(["train", str(tiny_config_file), "--run-dir", str(full)]) == 0

    step, calls = GradientStep.step, []

    def interrupt_at_5(self, problem, tasks):
        calls.append(1)
        if len(calls) == 6:  # in iteration 6, after the checkpoint at 4 (checkpoint_every=2)
            raise KeyboardInterrupt
        return step(self, problem, tasks)

    monkeypatch.setattr(GradientStep, "step", interrupt_at_5)
    assert main(["train", str(tiny_config_file), "--run-dir", str(resumed)]) == 130
    assert f"metarl train --resume {resumed}" in capsys.readouterr().err
    monkeypatch.undo()

    assert main(["train", "--resume", str(resumed)]) == 0
    assert training_scalars(full) == training_scalars(resumed)
    weights = load_checkpoint(full / "checkpoint.pt")["learner"]
    for key, value in load_checkpoint(resumed / "checkpoint.pt")["learner"].items():
        assert torch.equal(value, weights[key]), key


def test_resume_can_extend_a_finished_run(tiny_config_file, tmp_path):
    run_dir = tmp_path / "run"
    assert main(["train", str(tiny_config_file), "--run-dir", str(run_dir)]) == 0
    assert main(["train", "--resume", str(run_dir), "--set", "iterations=8"]) == 0
    assert load_checkpoint(run_dir / "checkpoint.pt")["iteration"] == 8
    assert "iterations: 8" in (run_dir / "config.yaml").read_text()


def expect_input_error(capsys, argv: list[str], *fragments: str) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    for fragment in fragments:
        assert fragment in lines[0]


def test_config_mistakes_fail_before_any_work(tiny_config_file, tmp_path, capsys):
    config = str(tiny_config_file)
    expect_input_error(capsys, ["train", config, "--set", "outer.lrr=1"], "did you mean 'outer.lr'")
    expect_input_error(capsys, ["train", config, "--set", "outer.lr=-1"], "outer.lr must be > 0")
    expect_input_error(capsys, ["train", config, "--set", "meta_batch_size=0"], "meta_batch_size")
    expect_input_error(capsys, ["train", str(tmp_path / "nope.yaml")], "does not exist")
    expect_input_error(capsys, ["train"], "pass a CONFIG file")
    assert not (tmp_path / "runs").exists()


def test_missing_data_folder_is_one_clear_error(tiny_config_file, tmp_path, capsys):
    expect_input_error(
        capsys,
        ["train", str(REPO / "experiments" / "omniglot_maml.yaml"), "--set", "device=cpu"],
        "task.omniglot.data_root is empty",
        "--data-root",
    )
    expect_input_error(
        capsys,
        ["train", str(tiny_config_file), "--set", "task.family=omniglot"],
        "data_root",
    )
    missing = tmp_path / "no-such-folder"
    expect_input_error(
        capsys,
        ["train", str(REPO / "experiments" / "omniglot_maml.yaml"), "--data-root", str(missing)],
        str(missing),
    )
    assert not (tmp_path / "runs").exists()


def test_resume_mistakes(tiny_config_file, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", str(tiny_config_file), "--run-dir", str(run_dir)]) == 0
    capsys.readouterr()
    expect_input_error(capsys, ["train", "--resume", str(tmp_path / "nope")], "no such run folder")
    expect_input_error(
        capsys, ["train", "--resume", str(run_dir), "--set", "outer.lr=0.1"], "cannot change"
    )
    expect_input_error(
        capsys, ["train", "--resume", str(run_dir), "--set", "iterations=2"], "must be >= 6"
    )
    expect_input_error(
        capsys, ["train", str(tiny_config_file), "--run-dir", str(run_dir)], "--resume"
    )
    checkpoint = run_dir / "checkpoint.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    expect_input_error(capsys, ["train", "--resume", str(run_dir)], "corrupt or truncated")
    expect_input_error(capsys, ["evaluate", str(run_dir)], "corrupt or truncated")
    expect_input_error(capsys, ["evaluate", str(tmp_path)], "has no config.yaml")


def test_non_finite_loss_stops_with_exit_status_1(tiny_config_file, capsys):
    assert main(["train", str(tiny_config_file), "--set", "inner.lr=1e30"]) == 1
    assert "non-finite query loss post" in capsys.readouterr().err


def test_omniglot_layout_trains_and_reports_accuracy(tmp_path, capsys):
    root = write_synthetic_omniglot(
        tmp_path / "omniglot", 2, 3, 3, torch.Generator().manual_seed(0), image_size=28
    )
    overrides = [
        "iterations=2",
        "meta_batch_size=2",
        "task.omniglot.ways=2",
        "task.omniglot.query=1",
        "task.omniglot.train_characters=4",
        "task.omniglot.rotations=false",
        "model.filters=4",
        "evaluation.tasks=4",
        "logging.progress=false",
    ]
    argv = ["train", str(REPO / "experiments" / "omniglot_maml.yaml"), "--data-root", str(root)]
    argv += ["--run-dir", str(tmp_path / "run")]
    for override in overrides:
        argv += ["--set", override]
    assert main(argv) == 0
    curve = json.loads((tmp_path / "run" / "evaluation.json").read_text())["curves"]["K=1"]
    assert len(curve["accuracy_mean"]) == 4
    assert "query accuracy" in capsys.readouterr().out


def test_python_dash_m_metarl_list():
    result = subprocess.run(
        [sys.executable, "-m", "metarl", "list"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for expected in ("maml", "metasgd", "sinusoid", "omniglot", "sinusoid_maml.yaml"):
        assert expected in result.stdout


def test_unknown_subcommand_and_benchmark_are_usage_errors(capsys):
    for argv in (["fly"], ["bench", "nothing"]):
        with pytest.raises(SystemExit) as error:
            main(argv)
        assert error.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_interrupt_before_the_first_checkpoint_says_so(
    tiny_config_file, tmp_path, monkeypatch, capsys
):
    def interrupt(self, problem, tasks):
        raise KeyboardInterrupt

    monkeypatch.setattr(GradientStep, "step", interrupt)
    run_dir = tmp_path / "run"
    assert main(["train", str(tiny_config_file), "--run-dir", str(run_dir)]) == 130
    err = capsys.readouterr().err
    assert "no checkpoint yet" in err and "--resume" not in err


def test_static_names_of_metarl_list_equal_the_registries():
    import envs
    from metarl.core.algorithms import SUMMARIES
    from metarl.run import cli
    from metarl.supervised.tasks import TASK_FAMILIES

    assert cli.ALGORITHM_SUMMARIES == SUMMARIES
    titles = {
        name: (family.config.__doc__ or "").strip().splitlines()[0]
        for name, family in TASK_FAMILIES.items()
    }
    assert titles == cli.TASK_FAMILY_TITLES
    assert list(cli.ENV_IDS) == list(envs.ENV_IDS)


def test_help_and_listing_import_no_heavy_library():
    probe = (
        "import sys, contextlib, io\n"
        "from metarl.run.cli import main\n"
        "for argv in (['list'], ['--help'], ['train', '--help'], ['evaluate', '--help'],"
        " ['bench', '--help']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "        main(argv)\n"
        "heavy = ('torch', 'gymnasium', 'mujoco', 'tensorboard', 'matplotlib',"
        " 'stable_baselines3')\n"
        "print(sorted(name for name in heavy if name in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_bench_help_says_what_each_benchmark_measures(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    out = capsys.readouterr().out
    for name in ("supervised", "sampler", "startup"):
        assert f"  {name} " in out


def test_list_pads_the_config_column_by_the_longest_name(capsys):
    assert main(["list"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if ".yaml " in line]
    starts = {len(line) - len(line.split(".yaml", 1)[1].lstrip()) for line in lines}
    assert len(lines) > 1 and len(starts) == 1
