"""``metarl toy``: one command writes every figure, the page and the numbers behind them."""

import itertools
import json
import subprocess
import sys

import pytest
import torch

from metarl.extras.toy import ExplorerConfig, main, run

FILES = (
    "curvature.png",
    "imaml_regularisation.png",
    "trajectories.png",
    "meta_gradients.png",
    "meta_gradients_wells.png",
    "explorer.html",
    "summary.json",
)


def check_summary(summary: dict) -> None:
    """What every figure must show, whatever the task sample."""
    panels = summary["curvature"]["panels"]
    assert panels[0]["frobenius_norm"] == 0 and panels[0]["first_order_relative_error"] == 0
    positive = [p for p in panels if p["curvature"][0] * p["curvature"][2] >= 0]
    errors = [
        p["first_order_relative_error"] for p in sorted(positive, key=lambda p: p["frobenius_norm"])
    ]
    assert all(a < b for a, b in itertools.pairwise(errors))
    regularised = summary["imaml_regularisation"]["panels"]
    assert all(p["gradient_norm"] < 1e-8 for p in regularised)
    distances = [p["distance_to_theta"] for p in regularised]
    assert all(a > b for a, b in itertools.pairwise(distances))
    for family in summary["trajectories"].values():
        torch.testing.assert_close(
            torch.tensor(family["hfmaml"]["end"]), torch.tensor(family["maml"]["end"])
        )
    gradients = summary["meta_gradients"]["by_alpha"]
    assert max(max(row) for row in gradients["hfmaml"]["angle_deg"]) < 1e-9


def test_command_writes_every_figure_and_the_page(tmp_path, capsys):
    main(["--out", str(tmp_path), "--tasks", "4", "--iterations", "5"])
    for name in FILES:
        assert (tmp_path / name).stat().st_size > 1000, name
    assert "explorer.html" in capsys.readouterr().out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["config"]["tasks"] == 4
    check_summary(summary)


@pytest.mark.slow
def test_default_command_pictures(tmp_path):
    """The README's pictures: with converged trajectories, MAML ends at the lowest meta-loss."""
    summary = run(ExplorerConfig(out=str(tmp_path)))
    check_summary(summary)
    for family in summary["trajectories"].values():
        best = min(family, key=lambda name: family[name]["maml_meta_loss_at_end"])
        assert best in ("maml", "hfmaml")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--alpha", "0"], "--alpha must be > 0"),
        (["--steps", "0"], "--steps must be >= 1"),
        (["--tasks", "0"], "--tasks must be >= 1"),
        (["--outer-lr", "-1"], "--outer-lr must be > 0"),
        (["--device", "gpu0"], "not a torch device"),
    ],
)
def test_bad_arguments_stop_before_any_work(tmp_path, argv, message):
    with pytest.raises(SystemExit, match=message):
        main(["--out", str(tmp_path / "never"), *argv])
    assert not (tmp_path / "never").exists()


def test_cuda_request_without_cuda_is_refused(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(SystemExit, match="CUDA is not available"):
        main(["--out", str(tmp_path), "--device", "cuda"])


def test_python_dash_m_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "metarl.extras.toy", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "metarl toy" in result.stdout and "--out" in result.stdout
