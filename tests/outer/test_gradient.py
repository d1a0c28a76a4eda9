"""The shared outer optimizer: the step it takes equals the closed form, clipped or not."""

import pytest
import torch

from metarl.outer.gradient import apply_meta_gradient, make_outer_optimizer


def params_and_grads():
    theta = {
        "w": torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True),
        "frozen": torch.tensor([5.0], dtype=torch.float64, requires_grad=True),
    }
    grads = {"w": torch.tensor([3.0, 4.0], dtype=torch.float64)}  # norm 5
    return theta, grads


@pytest.mark.parametrize(("grad_clip", "scale"), [(None, 1.0), (10.0, 1.0), (2.5, 0.5)])
def test_sgd_step_is_theta_minus_lr_times_the_clipped_meta_gradient(grad_clip, scale):
    theta, grads = params_and_grads()
    optimizer = make_outer_optimizer("sgd", theta.values(), lr=0.1)
    norm = torch.linalg.vector_norm(grads["w"])
    expected = torch.tensor([1.0, -2.0], dtype=torch.float64) - 0.1 * scale * grads["w"]
    apply_meta_gradient(optimizer, theta, grads, norm, grad_clip)
    # torch clips with max_norm / (norm + 1e-6).
    torch.testing.assert_close(theta["w"].detach(), expected, rtol=0, atol=1e-6)
    # No meta-gradient, no step: the parameter keeps its value and has no .grad.
    assert theta["frozen"].grad is None
    assert theta["frozen"].item() == 5.0


def test_adam_first_step_moves_each_coordinate_by_lr():
    theta, grads = params_and_grads()
    optimizer = make_outer_optimizer("adam", theta.values(), lr=0.01)
    apply_meta_gradient(optimizer, theta, grads, torch.linalg.vector_norm(grads["w"]), None)
    # Adam's bias-corrected first step is lr * g / (|g| + eps): lr in the gradient's sign.
    torch.testing.assert_close(
        theta["w"].detach(), torch.tensor([0.99, -2.01], dtype=torch.float64), atol=1e-9, rtol=0
    )
    assert isinstance(optimizer, torch.optim.Adam)


def test_unknown_optimizer_names_the_choices():
    with pytest.raises(ValueError, match=r"one of \('adam', 'sgd'\), got 'rmsprop'"):
        make_outer_optimizer("rmsprop", [torch.zeros(1, requires_grad=True)], lr=0.1)
