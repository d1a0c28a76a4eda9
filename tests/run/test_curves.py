"""``metarl curves``: training curves read back from real TensorBoard events."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from metarl.run.cli import main
from metarl.run.curves import curves_table, read_scalars, trailing_mean


def test_trailing_mean_by_hand():
    values = [1.0, 3.0, 5.0, 7.0]
    np.testing.assert_allclose(trailing_mean(values, 2), [1.0, 2.0, 4.0, 6.0])
    np.testing.assert_allclose(trailing_mean(values, 10), [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(trailing_mean(values, 1), values)


def test_table_rows_are_every_nth_step_the_first_and_the_last():
    series = [(step, float(step) / 2) for step in range(1, 8)]
    runs = {"a": {"x": series}, "b": {"x": series[:4]}}
    lines = curves_table(runs, ["x"], every=3).splitlines()
    assert lines[0] == "| meta-iteration | a x | b x |"
    assert lines[2:] == ["| 1 | 0.5 | 0.5 |", "| 3 | 1.5 | 1.5 |", "| 4 | 2.0 | 2.0 |",
                         "| 6 | 3.0 |  |", "| 7 | 3.5 |  |"]  # fmt: skip


def test_curves_of_a_trained_and_resumed_run(tiny_config_file, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", str(tiny_config_file), "--run-dir", str(run_dir)]) == 0
    assert main(["train", "--resume", str(run_dir), "--set", "iterations=8"]) == 0
    capsys.readouterr()

    out = tmp_path / "curves.png"
    assert main(["curves", str(run_dir), "--every", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    scalars = read_scalars(run_dir)
    pre, post = dict(scalars["outer/query_loss_pre"]), dict(scalars["outer/query_loss_post"])
    assert sorted(pre) == list(range(1, 9))  # resumed: one series, no duplicated steps
    assert printed[0] == "| meta-iteration | run outer/query_loss_pre | run outer/query_loss_post |"
    assert printed[2:5] == [f"| {s} | {pre[s]:.1f} | {post[s]:.1f} |" for s in (1, 4, 8)]
    with Image.open(out) as image:
        assert image.size[0] > 0 and image.size[1] > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["curves", "{tmp}/nothing"], "no such run folder"),
        (["curves", "{tmp}"], "holds no TensorBoard scalars"),
        (["curves", "{run}", "--tags", "train/nope"], "has no scalar 'train/nope'"),
        (["curves", "{run}", "--every", "0"], "--every and --smooth must be >= 1"),
    ],
)
def test_curves_mistakes_are_one_clear_error(argv, message, tiny_config_file, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", str(tiny_config_file), "--run-dir", str(run_dir), "--set",
                 "iterations=2"]) == 0  # fmt: skip
    capsys.readouterr()
    argv = [arg.format(tmp=tmp_path, run=run_dir) for arg in argv]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and message in error and "Traceback" not in error
