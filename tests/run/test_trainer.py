"""The training loop: same seed same numbers, exact resume, NaN stops, clipping, metrics."""

from __future__ import annotations

import re

import pytest
import torch

from metarl.core.compiled import compiler_available
from metarl.errors import NonFiniteError
from metarl.run.checkpoint import load_checkpoint
from metarl.run.trainer import Trainer, make_trainer


@pytest.fixture
def train(tmp_path, tiny_config):
    """``train(name, overrides=())``: train the tiny config into ``tmp_path / name``."""

    def run(name: str, overrides: list[str] = ()) -> Trainer:
        trainer = make_trainer(tiny_config(overrides), tmp_path / name)
        trainer.train()
        return trainer

    return run


def assert_same_parameters(a: Trainer, b: Trainer) -> None:
    state_a, state_b = a.learner.state_dict(), b.learner.state_dict()
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), key


def test_same_seed_gives_identical_parameters_and_metrics(tmp_path, train, training_scalars):
    first, second = train("a"), train("b")
    assert_same_parameters(first, second)
    scalars = training_scalars(tmp_path / "a")
    assert scalars == training_scalars(tmp_path / "b")
    assert len(scalars["outer/meta_loss"]) == 6


def test_different_seed_gives_different_numbers(tmp_path, train, training_scalars):
    first, second = train("a"), train("b", ["seed=1"])
    weight = "model.net.0.weight"
    assert not torch.equal(first.learner.state_dict()[weight], second.learner.state_dict()[weight])
    assert training_scalars(tmp_path / "a") != training_scalars(tmp_path / "b")


class Killed(Exception):
    """Stands in for the process dying in the middle of an iteration."""


def die_in_update(trainer: Trainer, kill_at: int) -> Trainer:
    """Make ``trainer`` die while taking the outer step of iteration ``kill_at + 1``."""
    step = trainer.outer.step

    def dying(problem, tasks):
        if trainer.iteration == kill_at:
            raise Killed
        return step(problem, tasks)

    trainer.outer.step = dying
    return trainer


@pytest.mark.skipif(compiler_available(torch.device("cpu")) is not None, reason="no compiler")
def test_compiled_run_matches_the_eager_run_and_logs_its_compile_time(
    tmp_path, train, read_scalars, training_scalars
):
    float64 = ["dtype=float64", "iterations=4", "logging.checkpoint_every=4"]
    eager = train("eager", [*float64, "compile=off"])
    compiled = train("compiled", [*float64, "compile=on"])
    again = train("again", [*float64, "compile=on"])
    assert compiled.compiled is not None and compiled.compiled.failure is None
    assert eager.compiled is None
    for key, value in eager.learner.state_dict().items():
        assert torch.allclose(compiled.learner.state_dict()[key], value, rtol=1e-9, atol=1e-12)
    assert_same_parameters(compiled, again)  # compiled runs repeat exactly
    assert training_scalars(tmp_path / "compiled") == training_scalars(tmp_path / "again")
    compile_s = read_scalars(tmp_path / "compiled")["perf/compile_s"]
    assert [step for step, _ in compile_s] == [1, 2, 3, 4]
    assert all(seconds == compile_s[0][1] > 0 for _, seconds in compile_s)
    assert "perf/compile_s" not in read_scalars(tmp_path / "eager")


@pytest.mark.parametrize(
    ("algorithm", "compile_mode"),
    [
        ("maml", "off"),
        ("metasgd", "off"),
        pytest.param(
            "maml",
            "on",
            marks=pytest.mark.skipif(
                compiler_available(torch.device("cpu")) is not None, reason="no compiler"
            ),
        ),
    ],
)
def test_resume_after_a_kill_matches_an_uninterrupted_run(
    tmp_path, algorithm, compile_mode, train, tiny_config, training_scalars
):
    # compile on: the resumed process compiles afresh and must continue the same numbers.
    overrides = [
        f"algorithm={algorithm}",
        "iterations=9",
        "evaluation.every=4",
        f"compile={compile_mode}",
    ]
    uninterrupted = train("full", overrides)

    config = tiny_config(overrides)
    with pytest.raises(Killed):
        die_in_update(make_trainer(config, tmp_path / "resumed"), kill_at=5).train()
    # The last checkpoint is from iteration 4 (checkpoint_every=2); iteration 5 was logged, and
    # the resumed run's values must replace it, not be added next to it.
    assert load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")["iteration"] == 4
    resumed = make_trainer(config, tmp_path / "resumed")
    resumed.restore()
    assert resumed.iteration == 4
    resumed.train()

    assert_same_parameters(uninterrupted, resumed)
    assert resumed.outer.optimizer.state_dict()["state"][0]["step"] == 9
    assert training_scalars(tmp_path / "full") == training_scalars(tmp_path / "resumed")


def test_vectorized_and_looped_meta_batches_agree(train):
    vectorized, looped = train("a"), train("b", ["vectorize=false"])
    for key, value in vectorized.learner.state_dict().items():
        torch.testing.assert_close(value, looped.learner.state_dict()[key], rtol=1e-5, atol=1e-6)


def test_logged_metric_names(tmp_path, train, read_scalars):
    train("run", ["algorithm=metasgd", "inner.steps=2", "evaluation.steps=3"])
    tags = set(read_scalars(tmp_path / "run"))
    expected = {
        "outer/meta_loss",
        "outer/query_loss_pre",
        "outer/query_loss_post",
        "outer/grad_norm",
        "inner/support_loss_step0",
        "inner/support_loss_step1",
        "inner/learned_lr_mean",
        "perf/iterations_per_s",
        "eval/pre_adapt_loss_k5",
        "eval/post_adapt_loss_k5_step1",
        "eval/post_adapt_loss_k5_step3",
    }
    assert expected <= tags


def test_run_folder_contents(tmp_path, train):
    train("run")
    names = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"config.yaml", "checkpoint.pt", "evaluation.json", "evaluation.png"} <= names
    assert any(name.startswith("events.out.tfevents") for name in names)
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["iteration"] == 6


def test_nan_in_a_task_stops_the_run_before_the_update(tmp_path, tiny_config):
    trainer = make_trainer(tiny_config(), tmp_path / "run")
    train_tasks = trainer.experiment.train_tasks
    sample = train_tasks.sample

    def poisoned(num_tasks, generator, *, support=None):
        tasks = sample(num_tasks, generator, support=support)
        if trainer.iteration == 3:
            tasks["support_y"][1, 0] = float("nan")
        return tasks

    train_tasks.sample = poisoned
    before = {}
    step = trainer.outer.step

    def remember_then_step(problem, tasks):
        before.update({k: v.clone() for k, v in trainer.learner.state_dict().items()})
        return step(problem, tasks)

    trainer.outer.step = remember_then_step
    with pytest.raises(NonFiniteError) as error:
        trainer.train()
    expected = r"non-finite inner support loss at inner step 0 \(1 of \d+ entries\).*iteration 4\."
    assert re.search(expected, str(error.value)), str(error.value)
    assert trainer.iteration == 3
    for key, value in trainer.learner.state_dict().items():
        assert torch.equal(value, before[key]), f"{key} was updated with a NaN gradient"
        assert torch.isfinite(value).all()


def test_diverging_inner_loop_names_the_query_loss(tmp_path, tiny_config):
    trainer = make_trainer(tiny_config(["inner.lr=1e30"]), tmp_path / "run")
    expected = (
        r"non-finite query loss post .* not applied.* \(iteration 1\.\).*no checkpoint was written"
    )
    with pytest.raises(NonFiniteError, match=expected):
        trainer.train()


def test_gradient_clipping_bounds_the_update(tmp_path, tiny_config):
    overrides = ["outer.kind=sgd", "outer.lr=1.0", "outer.grad_clip=0.01", "iterations=1"]
    trainer = make_trainer(tiny_config(overrides), tmp_path / "run")
    before = torch.cat([p.detach().flatten().clone() for p in trainer.learner.parameters()])
    trainer.train()
    after = torch.cat([p.detach().flatten() for p in trainer.learner.parameters()])
    torch.testing.assert_close(torch.linalg.vector_norm(after - before), torch.tensor(0.01))


def test_restore_rejects_a_checkpoint_of_another_model(tmp_path, train, tiny_config):
    train("run")
    other = make_trainer(tiny_config(["model.hidden=[8]"]), tmp_path / "run")
    with pytest.raises(ValueError, match="does not fit this config's model"):
        other.restore()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_run_matches_the_cpu_run_and_resumes(tmp_path, train, tiny_config):
    cpu = train("cpu")
    gpu = train("gpu", ["device=cuda"])
    for key, value in cpu.learner.state_dict().items():
        torch.testing.assert_close(gpu.learner.state_dict()[key].cpu(), value, rtol=1e-3, atol=1e-4)
    resumed = make_trainer(tiny_config(["device=cuda", "iterations=8"]), tmp_path / "gpu")
    resumed.restore()
    resumed.train()
    assert resumed.iteration == 8 and next(resumed.learner.parameters()).is_cuda


def test_a_fast_run_does_not_redraw_its_progress_line_at_every_phase(train, capsys):
    # Redirected to a file, a redraw per phase of a millisecond iteration writes a line each.
    train("fast", ["iterations=400", "logging.progress=true", "logging.log_every=100"])
    progress = capsys.readouterr().err
    redraws = progress.count("\r")
    assert 0 < redraws < 100, redraws
    assert "tiny [outer step (adam)]" in progress  # the first iteration still names its phases
