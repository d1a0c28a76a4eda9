"""``metarl bench sampler`` runs end to end on tiny shapes and prints its table and profile."""

import importlib.util

from metarl.extras.bench.sampler import main

META_WORLD = importlib.util.find_spec("metaworld") is not None


def test_benchmark_prints_one_table_and_a_profile(capsys):
    main(
        ["--tasks", "2", "--episodes", "2", "--horizon", "4", "--async-envs", "2", "--threads", "1"]
    )
    out = capsys.readouterr().out
    for key in ("HalfCheetahVel", "AntDir", "Navigation2D"):
        assert f"| {key} (2 x 2 x 4) | metarl sampler (MetaSampler, batched backend) |" in out
        assert f"| {key} (2 x 2 x 4) | SyncVectorEnv |" in out
        assert f"| {key} (2 x 2 x 4) | AsyncVectorEnv |" in out
    for key in ("ML1-push", "ML10"):
        if META_WORLD:  # Meta-World's own vector envs instead of Gymnasium's over registered ids
            for way in (
                "metarl sampler (MetaSampler, batched backend)",
                "Meta-World make_vec (sync)",
                "Meta-World make_vec (async)",
            ):
                assert f"| {key} (2 x 2 x 4) | {way} |" in out
        else:
            assert f"| {key} | skipped: " in out
    if META_WORLD:  # ML10 at the smallest meta-batch Meta-World's ML10 vector env accepts
        assert "| ML10 (2 x 2 x 4) | Meta-World make_vec (sync) |" in out
        assert "| 10 envs |" in out.split("| ML10 (2 x 2 x 4) | Meta-World make_vec (sync) |")[1]
    # zero controls and the sampler's actions, for the envs of one MuJoCo model only (not ML10)
    mujoco_envs = 3 if META_WORLD else 2
    assert out.count("| raw physics (mujoco.rollout, zero ctrl) |") == mujoco_envs
    assert out.count("| raw physics (mujoco.rollout, the sampler's actions) |") == mujoco_envs
    assert "MuJoCo threads 1" in out
    for key in ("HalfCheetahVel", "AntDir", "Navigation2D"):
        assert f"profile of one post-adaptation sampling phase, {key} (2 x 2 x 4)" in out
    assert out.count("of which the contact-force pass") == 1  # the Ant's
