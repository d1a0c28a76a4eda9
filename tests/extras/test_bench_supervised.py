"""The benchmark runs end to end, and its memory measurement shows what it claims to."""

import pytest
import torch

from metarl.core.compiled import compiler_available
from metarl.extras.bench.supervised import (
    bare_vmap_gradient,
    check_gradients,
    main,
    peak_step_memory,
)


def test_benchmark_prints_one_table(capsys, monkeypatch):
    monkeypatch.setattr("torch.set_num_threads", lambda n: None)  # leave the test process alone
    main(["--steps", "1", "--min-time", "0.02", "--repeats", "1", "--memory-steps", "2"])
    out = capsys.readouterr().out
    rows = ("metarl (vmap)", "metarl (task list)", "per-task loop", "bare vmap", "bar (metarl vmap")
    for row in rows:
        assert row in out
    if compiler_available(torch.device("cpu")) is None:
        assert "metarl (compiled)" in out and "compiled in" in out
        assert "bar (metarl compiled >= 20x" in out
    assert "peak memory of one meta-step" in out


def test_all_implementations_agree_on_the_meta_gradient():
    # The compiled row's check is in the table test above (and tests/core/test_compiled.py).
    assert check_gradients(steps=2, seed=1, device=torch.device("cpu"), compiled=False) < 1e-9


def test_the_gradient_check_stops_a_row_that_computes_something_else(monkeypatch):
    wrong = bare_vmap_gradient

    def off_by_a_little(model, steps):
        gradient = wrong(model, steps)

        def perturbed(tasks):
            gradient(tasks)
            next(model.parameters()).grad.mul_(1 + 1e-6)

        return perturbed

    monkeypatch.setattr("metarl.extras.bench.supervised.bare_vmap_gradient", off_by_a_little)
    with pytest.raises(RuntimeError, match="bare vmap and the per-task loop disagree"):
        check_gradients(steps=1, seed=1, device=torch.device("cpu"), compiled=False)


def test_maml_memory_grows_with_inner_steps_and_imaml_memory_does_not():
    cpu = torch.device("cpu")
    maml = [peak_step_memory("maml", steps, 0, cpu) for steps in (1, 10)]
    imaml = [peak_step_memory("imaml", steps, 0, cpu) for steps in (1, 10)]
    assert maml[1] > 3 * maml[0]
    assert imaml[1] <= 1.1 * imaml[0]
