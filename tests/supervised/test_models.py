import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from metarl.core.adaptation import InnerLoopConfig, MetaLearner
from metarl.core.algorithms import make_algorithm
from metarl.core.functional import BatchStatisticsNorm
from metarl.core.problem import SupervisedProblem, unstack_tasks
from metarl.supervised.models import Conv4, ModelConfig, build_model
from metarl.supervised.tasks import OmniglotConfig, make_task_distribution


def test_mlp_shapes_and_activation():
    model = build_model(ModelConfig(hidden=(40, 40)), (1,), 1)
    assert model(torch.zeros(10, 1)).shape == (10, 1)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(1, 40), (40, 40), (40, 1)]
    tanh = build_model(ModelConfig(hidden=(8,), activation="tanh"), (1,), 3)
    assert any(isinstance(m, nn.Tanh) for m in tanh.modules())
    images = build_model(ModelConfig(hidden=(16,)), (1, 28, 28), 5)
    assert images(torch.zeros(7, 1, 28, 28)).shape == (7, 5)


def test_conv4_is_four_blocks_down_to_one_by_one():
    model = build_model(ModelConfig(kind="conv4"), (1, 28, 28), 5)
    assert isinstance(model, Conv4)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    pools = [m for m in model.modules() if isinstance(m, nn.MaxPool2d)]
    assert len(convs) == len(norms) == len(pools) == 4
    assert all(c.out_channels == 64 and c.kernel_size == (3, 3) for c in convs)
    assert model.features(torch.zeros(2, 1, 28, 28)).shape == (2, 64)  # 1x1x64 features
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 5)
    assert (
        build_model(ModelConfig(kind="conv4", filters=32), (3, 84, 84), 5).head.in_features
        == 32 * 5 * 5
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"kind": "resnet"}, "model.kind"),
        ({"activation": "gelu"}, "model.activation"),
        ({"hidden": (40, 0)}, "model.hidden"),
        ({"filters": 0}, "model.filters"),
    ],
)
def test_model_config_rejects_bad_values(config, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**config)


def test_conv4_rejects_bad_input_shapes():
    with pytest.raises(ValueError, match="channels, height, width"):
        build_model(ModelConfig(kind="conv4"), (784,), 5)
    with pytest.raises(ValueError, match="at least 16x16"):
        build_model(ModelConfig(kind="conv4"), (1, 8, 8), 5)


@pytest.fixture
def omniglot_batch(omniglot):
    config = OmniglotConfig(
        data_root=str(omniglot.root), ways=3, shots=1, query=2, train_characters=8
    )
    tasks = make_task_distribution("omniglot", config, "train", "cpu", torch.float64)
    return tasks.sample(3, torch.Generator().manual_seed(0))


def conv4_learner(steps=2):
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="conv4", filters=8), (1, 28, 28), 3).double()
    return MetaLearner(model, InnerLoopConfig(steps=steps, lr=0.4))


@pytest.mark.parametrize("algorithm", ["maml", "fomaml"])
def test_conv4_vmap_and_task_loop_give_the_same_meta_gradient(omniglot_batch, algorithm):
    learner = conv4_learner()
    meta = make_algorithm(algorithm, learner.inner)
    problem = SupervisedProblem(learner.model, "cross_entropy")
    batched = meta.meta_step(learner.meta_params(), problem, omniglot_batch)
    looped = meta.meta_step(learner.meta_params(), problem, unstack_tasks(omniglot_batch))
    assert set(batched.meta_grads) == set(learner.meta_params())
    assert batched.meta_grads["model.head.weight"].abs().max() > 1e-3
    for name, grad in batched.meta_grads.items():
        torch.testing.assert_close(grad, looped.meta_grads[name], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(batched.meta_loss, looped.meta_loss, rtol=1e-12, atol=0)
    support = batched.metrics["support_loss"]
    assert support.shape == (3, 2) and (support[:, 1] < support[:, 0]).all()


def test_batchnorm_uses_each_tasks_own_statistics(omniglot_batch):
    learner = conv4_learner()
    assert not list(learner.model.buffers()), "no running statistics to leak between tasks"
    meta = make_algorithm("maml", learner.inner)
    problem = SupervisedProblem(learner.model, "cross_entropy")
    batch = omniglot_batch
    with_one = {k: torch.stack([batch[k][0], batch[k][1]]) for k in batch}
    with_two = {k: torch.stack([batch[k][0], batch[k][2]]) for k in batch}
    first = meta.meta_step(learner.meta_params(), problem, with_one).metrics
    second = meta.meta_step(learner.meta_params(), problem, with_two).metrics
    for key in ("query_loss_pre", "query_loss_post", "support_loss"):
        torch.testing.assert_close(first[key][0], second[key][0], rtol=1e-13, atol=0)


def test_batch_statistics_norm_matches_torch_batch_norm():
    source = nn.BatchNorm2d(4).double()
    with torch.no_grad():
        source.weight.uniform_(0.5, 1.5)
        source.bias.uniform_(-0.5, 0.5)
    norm = BatchStatisticsNorm(source)
    x = torch.randn(6, 4, 5, 5, dtype=torch.float64)
    expected = F.batch_norm(x, None, None, source.weight, source.bias, training=True, eps=norm.eps)
    torch.testing.assert_close(norm(x), expected)
    assert set(norm.state_dict()) == {"weight", "bias"}


def torch_batchnorm_reference_grads(model, tasks, lr, steps):
    """Second-order MAML through torch's own fused batch_norm, task by task with autograd."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.track_running_stats = False
            module.running_mean = module.running_var = None
    theta = dict(model.named_parameters())
    total = 0.0
    for task in tasks:
        params = theta
        for _ in range(steps):
            logits = functional_call(model, params, (task["support_x"],))
            loss = F.cross_entropy(logits, task["support_y"])
            grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
            params = {n: p - lr * g for (n, p), g in zip(params.items(), grads, strict=True)}
        logits = functional_call(model, params, (task["query_x"],))
        total = total + F.cross_entropy(logits, task["query_y"]) / len(tasks)
    grads = torch.autograd.grad(total, list(theta.values()))
    return {"model." + n: g for n, g in zip(theta, grads, strict=True)}


def test_conv4_second_order_gradient_equals_torch_batchnorm_per_task(omniglot_batch):
    """The reference: torch's own batch_norm, differentiated twice task by task (no vmap)."""
    learner = conv4_learner()
    torch.manual_seed(0)
    raw = build_model(ModelConfig(kind="conv4", filters=8), (1, 28, 28), 3).double()
    ours = make_algorithm("maml", learner.inner).meta_step(
        learner.meta_params(), SupervisedProblem(learner.model, "cross_entropy"), omniglot_batch
    )
    theirs = torch_batchnorm_reference_grads(raw, unstack_tasks(omniglot_batch), 0.4, 2)
    assert set(ours.meta_grads) == set(theirs)
    for name, grad in ours.meta_grads.items():
        torch.testing.assert_close(grad, theirs[name], rtol=1e-10, atol=1e-12)


def test_any_module_with_torch_batchnorm_vmap_equals_task_loop(omniglot_batch):
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.LazyLinear(3)
    ).double()
    model(torch.zeros(2, 1, 28, 28, dtype=torch.float64))  # materialise the lazy layer
    learner = MetaLearner(model, InnerLoopConfig(1, 0.4))
    assert any(isinstance(m, BatchStatisticsNorm) for m in learner.model.modules())
    meta = make_algorithm("maml", learner.inner)
    problem = SupervisedProblem(learner.model, "cross_entropy")
    batched = meta.meta_step(learner.meta_params(), problem, omniglot_batch)
    looped = meta.meta_step(learner.meta_params(), problem, unstack_tasks(omniglot_batch))
    for name, grad in batched.meta_grads.items():
        torch.testing.assert_close(grad, looped.meta_grads[name], rtol=1e-10, atol=1e-12)
