"""``metarl bench sampler`` runs end to end on tiny shapes and prints its table and profile."""

from metarl.extras.bench.sampler import main


def test_benchmark_prints_one_table_and_a_profile(capsys):
    main(
        ["--tasks", "2", "--episodes", "2", "--horizon", "4", "--async-envs", "2", "--threads", "1"]
    )
    out = capsys.readouterr().out
    for key in ("HalfCheetahVel", "AntDir", "Navigation2D"):
        assert f"| {key} (2 x 2 x 4) | metarl sampler (MetaSampler, batched backend) |" in out
        assert f"| {key} (2 x 2 x 4) | SyncVectorEnv |" in out
        assert f"| {key} (2 x 2 x 4) | AsyncVectorEnv |" in out
    # zero controls and the sampler's actions, for the MuJoCo envs only
    assert out.count("| raw physics (mujoco.rollout, zero ctrl) |") == 2
    assert out.count("| raw physics (mujoco.rollout, the sampler's actions) |") == 2
    assert "MuJoCo threads 1" in out
    for key in ("HalfCheetahVel", "AntDir", "Navigation2D"):
        assert f"profile of one post-adaptation sampling phase, {key} (2 x 2 x 4)" in out
    assert out.count("of which the contact-force pass") == 1  # the Ant's
