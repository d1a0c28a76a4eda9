"""Learning: MAML-TRPO on Navigation2D adapts in one policy-gradient step (slow; a few minutes).

The shipped config (20 tasks x 20 episodes, horizon 100, one inner step of 0.1, TRPO max KL 0.01)
for 8 meta-iterations (about 3 minutes on 2 busy CPU cores), then 40 held-out goals: after one
policy-gradient step the meta-learned policy's return must rise well above its return before
adaptation, and above a freshly initialised policy's return after the same step.
Run: python -m pytest tests/rl/test_rl_learning.py -m slow -s
"""

import time
from pathlib import Path

import pytest

from metarl.run.config import load_config
from metarl.run.trainer import make_trainer

CONFIG = Path(__file__).resolve().parents[2] / "experiments" / "navigation2d_maml_trpo.yaml"


@pytest.mark.slow
def test_navigation2d_maml_trpo_adapts_in_one_step(tmp_path):
    config = load_config(
        CONFIG,
        [
            "iterations=8",
            "evaluation.adapt_steps=1",
            "logging.progress=false",
            f"logging.run_root={tmp_path}",
        ],
    )
    trainer = make_trainer(config, tmp_path / "run")
    start = time.perf_counter()
    curves = trainer.train()
    print(f"\n{trainer.summary(curves)}\n{time.perf_counter() - start:.0f} s")

    learned, random_init = curves["meta-learned"], curves["random init"]
    pre, post = learned.return_mean
    pre_ci, post_ci = learned.return_ci95
    # Well above: the 95% intervals are disjoint by a wide margin (returns are about -25 vs -45).
    assert post - post_ci > pre + pre_ci + 5.0
    assert post > random_init.return_mean[1] + random_init.return_ci95[1] + post_ci + 10.0
