"""``metarl bench outer`` runs end to end on a tiny shape: the agreement check, the phase table,
the product's pieces and the FLOP bound."""

import pytest

from metarl.extras.bench.outer import main


def test_benchmark_checks_agreement_and_prints_the_phase_table(capsys):
    main(["--tasks", "2", "--episodes", "2", "--horizon", "5", "--repeats", "1", "--threads", "1"])
    out = capsys.readouterr().out
    assert "agreement in float64: one product rel. err" in out
    assert "2 tasks x 2 episodes x 5 steps" in out
    for phase in (
        "meta-gradient",
        "Fisher graphs (once)",
        "Fisher products (all CG)",
        "line search + CG",
        "whole trpo_step",
    ):
        assert f"| {phase} |" in out
    assert "M u: closed form (new)" in out
    assert "J v: forward mode, torch.func.jvp (not used)" in out
    assert "| one product |" in out and "| whole step |" in out  # the FLOP bound


def test_benchmark_rejects_a_zero_count(capsys):
    with pytest.raises(SystemExit):
        main(["--tasks", "0"])
    assert "must be >= 1" in capsys.readouterr().err
