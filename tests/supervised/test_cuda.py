"""The same meta-step on the GPU as on the CPU, with no host synchronisation inside it."""

import pytest
import torch

from metarl.core.adaptation import InnerLoopConfig, MetaLearner
from metarl.core.algorithms import make_algorithm
from metarl.core.problem import SupervisedProblem
from metarl.supervised.evaluation import evaluate_adaptation
from metarl.supervised.models import ModelConfig, build_model
from metarl.supervised.tasks import OmniglotConfig, SinusoidConfig, make_task_distribution

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def meta_step(device, algorithm, tasks_on, model_config, input_shape, output_dim, loss):
    torch.manual_seed(0)
    model = build_model(model_config, input_shape, output_dim).to(device, torch.float64)
    learner = MetaLearner(model, InnerLoopConfig(steps=3, lr=0.01))
    meta = make_algorithm(algorithm, learner.inner)
    problem = SupervisedProblem(learner.model, loss)
    tasks = {k: v.to(device) for k, v in tasks_on.items()}
    torch.cuda.set_sync_debug_mode("error")  # any device-to-host round trip raises
    try:
        result = meta.meta_step(learner.meta_params(), problem, tasks)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    curve = evaluate_adaptation(meta, learner.meta_params(), problem, tasks, 2)
    return result, curve


@pytest.mark.parametrize("algorithm", ["maml", "imaml"])
def test_sinusoid_meta_step_on_cuda_matches_cpu(algorithm):
    distribution = make_task_distribution(
        "sinusoid", SinusoidConfig(), "train", "cpu", torch.float64
    )
    tasks = distribution.sample(25, torch.Generator().manual_seed(0))
    args = (algorithm, tasks, ModelConfig(), (1,), 1, "mse")
    gpu, gpu_curve = meta_step("cuda", *args)
    cpu, cpu_curve = meta_step("cpu", *args)
    for name, grad in cpu.meta_grads.items():
        assert gpu.meta_grads[name].device.type == "cuda"
        torch.testing.assert_close(gpu.meta_grads[name].cpu(), grad, rtol=1e-9, atol=1e-12)
    assert gpu_curve.loss_mean == pytest.approx(cpu_curve.loss_mean, rel=1e-9)


def test_omniglot_sampling_and_conv4_step_on_cuda(omniglot):
    config = OmniglotConfig(
        data_root=str(omniglot.root), ways=3, shots=1, query=2, train_characters=8
    )
    distribution = make_task_distribution("omniglot", config, "train", "cuda", torch.float64)
    generator = torch.Generator(device="cuda").manual_seed(0)
    tasks = distribution.sample(4, generator)
    assert tasks["support_x"].device.type == "cuda"
    args = ("maml", tasks, ModelConfig(kind="conv4", filters=8), (1, 28, 28), 3, "cross_entropy")
    gpu, _ = meta_step("cuda", *args)
    cpu, _ = meta_step("cpu", *args)
    for name, grad in cpu.meta_grads.items():
        torch.testing.assert_close(gpu.meta_grads[name].cpu(), grad, rtol=1e-7, atol=1e-9)
