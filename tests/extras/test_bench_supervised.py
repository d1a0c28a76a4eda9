"""The benchmark runs end to end, and its memory measurement shows what it claims to."""

import torch

from metarl.extras.bench.supervised import check_gradients, main, peak_step_memory


def test_benchmark_prints_one_table(capsys, monkeypatch):
    monkeypatch.setattr("torch.set_num_threads", lambda n: None)  # leave the test process alone
    main(["--steps", "1", "--min-time", "0.02", "--repeats", "1", "--memory-steps", "2"])
    out = capsys.readouterr().out
    for row in ("metarl (vmap)", "metarl (task list)", "per-task loop", "bar (metarl vmap"):
        assert row in out
    assert "peak memory of one meta-step" in out


def test_all_implementations_agree_on_the_meta_gradient():
    assert check_gradients(steps=2, seed=1, device=torch.device("cpu")) < 1e-9


def test_maml_memory_grows_with_inner_steps_and_imaml_memory_does_not():
    cpu = torch.device("cpu")
    maml = [peak_step_memory("maml", steps, 0, cpu) for steps in (1, 10)]
    imaml = [peak_step_memory("imaml", steps, 0, cpu) for steps in (1, 10)]
    assert maml[1] > 3 * maml[0]
    assert imaml[1] <= 1.1 * imaml[0]
