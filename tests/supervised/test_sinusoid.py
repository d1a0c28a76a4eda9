import math

import pytest
import torch

from metarl.supervised.tasks import (
    TASK_FAMILIES,
    OmniglotConfig,
    SinusoidConfig,
    SinusoidTasks,
    make_task_distribution,
)


def sample(seed, num_tasks=50, dtype=torch.float32, **kwargs):
    tasks = SinusoidTasks(SinusoidConfig(), "cpu", dtype)
    return tasks.sample(num_tasks, torch.Generator().manual_seed(seed), **kwargs)


def test_same_seed_same_tasks_other_seed_other_tasks():
    first, again, other = sample(3), sample(3), sample(4)
    for key in first:
        assert torch.equal(first[key], again[key])
    assert not torch.equal(first["amplitude"], other["amplitude"])


def test_shapes_and_ranges_follow_the_maml_paper():
    tasks = sample(0, num_tasks=2000)
    assert tasks["support_x"].shape == tasks["support_y"].shape == (2000, 10, 1)
    assert tasks["query_x"].shape == tasks["query_y"].shape == (2000, 10, 1)
    assert tasks["amplitude"].shape == tasks["phase"].shape == (2000,)
    amplitude, phase = tasks["amplitude"], tasks["phase"]
    assert 0.1 <= amplitude.min() < 0.2 and 4.9 < amplitude.max() <= 5.0
    assert 0.0 <= phase.min() < 0.1 and math.pi - 0.1 < phase.max() <= math.pi
    x = torch.cat([tasks["support_x"], tasks["query_x"]], dim=1)
    assert -5.0 <= x.min() < -4.99 and 4.99 < x.max() <= 5.0
    for part in ("support", "query"):
        expected = amplitude[:, None, None] * torch.sin(tasks[f"{part}_x"] - phase[:, None, None])
        torch.testing.assert_close(tasks[f"{part}_y"], expected)


def test_support_override_and_dtype():
    tasks = sample(0, num_tasks=4, dtype=torch.float64, support=20)
    assert tasks["support_x"].shape == (4, 20, 1) and tasks["query_x"].shape == (4, 10, 1)
    assert tasks["support_x"].dtype == torch.float64
    # The same seed gives the same tasks in any dtype (draws are made in float64).
    single = sample(0, num_tasks=4, dtype=torch.float32, support=20)
    torch.testing.assert_close(single["amplitude"].double(), tasks["amplitude"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"support": 0}, "support must be >= 1"),
        ({"query": 0}, "query must be >= 1"),
        ({"amplitude_min": 6.0}, "amplitude_min"),
        ({"x_min": 1.0, "x_max": -1.0}, "x_min"),
    ],
)
def test_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SinusoidConfig(**kwargs)


def test_sample_rejects_bad_counts():
    tasks = SinusoidTasks(SinusoidConfig())
    with pytest.raises(ValueError, match="num_tasks"):
        tasks.sample(0, torch.Generator())
    with pytest.raises(ValueError, match="support"):
        tasks.sample(1, torch.Generator(), support=0)


def test_make_task_distribution_checks_family_config_and_split():
    assert set(TASK_FAMILIES) == {"sinusoid", "linear", "omniglot"}
    made = make_task_distribution("sinusoid", SinusoidConfig(), "test", "cpu", torch.float64)
    assert made.loss == "mse" and made.input_shape == (1,) and made.output_dim == 1
    assert made.sample(2, torch.Generator())["support_x"].dtype == torch.float64
    with pytest.raises(ValueError, match="unknown task family 'sine'"):
        make_task_distribution("sine", SinusoidConfig(), "train", "cpu", torch.float32)
    with pytest.raises(TypeError, match="needs a SinusoidConfig"):
        make_task_distribution("sinusoid", OmniglotConfig(), "train", "cpu", torch.float32)
    with pytest.raises(ValueError, match="split"):
        make_task_distribution("sinusoid", SinusoidConfig(), "val", "cpu", torch.float32)
