"""The evaluation report shared by supervised and RL runs: intervals, JSON, PNG, scalar names."""

import json
import math

import pytest
import torch

from metarl.rl.evaluation import ReturnCurve, return_panels, return_scalars
from metarl.run.report import mean_and_ci95, write_report
from metarl.supervised.evaluation import AdaptationCurve, loss_panels, loss_scalars


def test_mean_and_ci95():
    values = torch.tensor([[1.0, 10.0], [2.0, 10.0], [6.0, 10.0]])
    mean, half = mean_and_ci95(values)
    assert mean.tolist() == [3.0, 10.0]
    assert half[0] == pytest.approx(1.96 * math.sqrt(7.0) / math.sqrt(3))
    assert half[1] == 0.0
    assert math.isnan(mean_and_ci95(torch.tensor([4.0]))[1])


def test_supervised_report_writes_json_png_and_scalars(tmp_path):
    curve = AdaptationCurve(
        [0, 1, 2],
        [3.0, 2.0, math.nan],
        [0.2, 0.1, 0.1],
        [0.2, 0.5, 0.6],
        [0.01, 0.02, 0.02],
        600,
        [3.0, 2.0, 1.5],
        [0, 0, 1],
    )
    curves = {"K=5": curve, "K=10": curve}
    json_path, png_path = write_report(
        curves, loss_panels(curves), tmp_path / "eval", "test", stem="evaluation", xlabel="steps"
    )
    report = json.loads(json_path.read_text())
    assert report["title"] == "test" and "1.96" in report["interval"]
    assert report["curves"]["K=5"]["loss_mean"] == [3.0, 2.0, None]  # diverged: null
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    scalars = loss_scalars({"K=5": curve})
    assert scalars["eval/pre_adapt_loss_k5"] == 3.0
    assert scalars["eval/post_adapt_loss_k5_step1"] == 2.0
    assert scalars["eval/post_adapt_accuracy_k5_step2"] == 0.6
    assert len(scalars) == 6


def test_rl_report_draws_the_oracle_across_and_names_each_policy(tmp_path):
    adapted = ReturnCurve([0, 1], [-5.0, -2.0], [0.5, 0.5], 2, [[-5.0, -2.0], [-5.0, -2.0]])
    oracle = ReturnCurve([0], [-1.0], [0.1], 2, [[-1.0], [-1.0]])
    curves = {"meta-learned": adapted, "oracle": oracle}
    ((ylabel, drawn),) = return_panels(curves)
    assert ylabel == "average return" and drawn["oracle"] == ([0, 1], [-1.0, -1.0], [0.1, 0.1])
    _, png_path = write_report(
        curves, [(ylabel, drawn)], tmp_path, "rl", stem="evaluation", xlabel="steps"
    )
    assert png_path.is_file()
    assert return_scalars(curves) == {
        "eval/meta_learned/pre_adapt_return": -5.0,
        "eval/meta_learned/post_adapt_return_k1": -2.0,
        "eval/oracle/pre_adapt_return": -1.0,
    }
