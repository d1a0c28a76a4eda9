"""The compiled meta-step equals the eager one for every algorithm (float64), compiles once,
runs other shapes eager, and falls back to eager with one warning when compilation fails."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch._dynamo
import torch._inductor.config

from metarl.core.adaptation import InnerLoopConfig, MetaLearner
from metarl.core.algorithms import HFMAMLConfig, IMAMLConfig, make_algorithm
from metarl.core.compiled import (
    AUTO_MIN_ITERATIONS,
    CompiledAlgorithm,
    compile_decision,
    compiler_available,
)
from metarl.core.problem import SupervisedProblem
from metarl.supervised.models import ModelConfig, build_model
from metarl.supervised.tasks import SinusoidConfig, SinusoidTasks

CPU = torch.device("cpu")
needs_compiler = pytest.mark.skipif(
    compiler_available(CPU) is not None, reason=f"{compiler_available(CPU)}"
)


def sinusoid_setting(algorithm: str, tasks: int = 3, support: int = 4):
    torch.manual_seed(3)
    model = build_model(ModelConfig(kind="mlp", hidden=(8, 8)), (1,), 1).double()
    lr_mode = "per_parameter" if algorithm == "metasgd" else "fixed"
    learner = MetaLearner(model, InnerLoopConfig(steps=2, lr=0.05, lr_mode=lr_mode))
    step = make_algorithm(
        algorithm,
        learner.inner,
        imaml=IMAMLConfig(cg_steps=2),
        hfmaml=HFMAMLConfig(),
    )
    problem = SupervisedProblem(learner.model, "mse")
    family = SinusoidTasks(SinusoidConfig(support=support, query=support), CPU, torch.float64)
    batches = [family.sample(tasks, torch.Generator().manual_seed(s)) for s in (0, 1)]
    return learner, step, problem, batches


def assert_results_close(got, want, rtol: float = 1e-10) -> None:
    assert torch.allclose(got.meta_loss, want.meta_loss, rtol=rtol, atol=0)
    assert got.meta_grads.keys() == want.meta_grads.keys()
    for name, value in want.meta_grads.items():
        scale = float(value.abs().max())
        assert float((got.meta_grads[name] - value).abs().max()) <= rtol * scale + 1e-14, name
    assert got.metrics.keys() == want.metrics.keys()
    for name, value in want.metrics.items():
        assert torch.allclose(got.metrics[name], value, rtol=rtol, atol=1e-14), name
    assert got.num_tasks == want.num_tasks


@needs_compiler
@pytest.mark.parametrize("algorithm", ["maml", "fomaml", "metasgd", "reptile", "imaml", "hfmaml"])
def test_compiled_meta_step_equals_eager_in_float64(algorithm):
    learner, step, problem, batches = sinusoid_setting(algorithm)
    compiled = CompiledAlgorithm(step)
    meta_params = learner.meta_params()
    for batch in batches:  # the compiling call, then the compiled graph on new data
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # no fallback may hide in here
            got = compiled.meta_step(meta_params, problem, batch)
        assert_results_close(got, step.meta_step(meta_params, problem, batch))
    assert compiled.failure is None
    assert compiled.compile_seconds > 0


@needs_compiler
def test_compiled_conv4_meta_step_equals_eager_in_float64():
    # The Omniglot config's network (BatchNorm on each task's own batch), which auto compiles.
    torch.manual_seed(4)
    model = build_model(ModelConfig(kind="conv4", filters=4), (1, 16, 16), 3).double()
    learner = MetaLearner(model, InnerLoopConfig(steps=1, lr=0.4))
    step = make_algorithm("maml", learner.inner)
    problem = SupervisedProblem(learner.model, "cross_entropy")
    generator = torch.Generator().manual_seed(5)
    tasks, shots = 2, 3  # 3-way, 1 shot support and query
    batch = {
        f"{split}_x": torch.randn(tasks, shots, 1, 16, 16, generator=generator, dtype=torch.float64)
        for split in ("support", "query")
    }
    batch |= {f"{split}_y": torch.arange(shots).repeat(tasks, 1) for split in ("support", "query")}
    compiled = CompiledAlgorithm(step)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        got = compiled.meta_step(learner.meta_params(), problem, batch)
    assert_results_close(got, step.meta_step(learner.meta_params(), problem, batch))
    assert compiled.failure is None


@needs_compiler
def test_compiles_once_and_runs_other_shapes_and_task_lists_eager():
    learner, step, problem, batches = sinusoid_setting("maml")
    compiled = CompiledAlgorithm(step)
    meta_params = learner.meta_params()
    torch._dynamo.reset()  # frames compiled by earlier tests would be reused, not counted
    torch._dynamo.utils.counters.clear()
    compiled.meta_step(meta_params, problem, batches[0])
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    first_compile = compiled.compile_seconds
    assert graphs == 1
    _, _, _, (ragged, _) = sinusoid_setting("maml", tasks=2, support=6)
    task_list = [{key: value[i] for key, value in batches[1].items()} for i in range(3)]
    for other in (ragged, task_list, batches[1]):
        got = compiled.meta_step(meta_params, problem, other)
        assert_results_close(got, step.meta_step(meta_params, problem, other))
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == graphs  # no recompiles
    assert compiled.compile_seconds == first_compile


def test_a_failing_compiler_falls_back_to_eager_with_one_warning():
    learner, step, problem, batches = sinusoid_setting("fomaml")
    compiled = CompiledAlgorithm(step)
    meta_params = learner.meta_params()
    torch._dynamo.reset()  # nothing compiled earlier may be reused
    with (
        torch._inductor.config.patch({"cpp.cxx": ("/nonexistent/g++",)}),
        pytest.warns(RuntimeWarning, match="compile of the fomaml meta-step failed") as caught,
    ):
        got = compiled.meta_step(meta_params, problem, batches[0])
        again = compiled.meta_step(meta_params, problem, batches[1])
    assert len([w for w in caught if issubclass(w.category, RuntimeWarning)]) == 1
    assert compiled.failure is not None and "nonexistent" in compiled.failure
    assert_results_close(got, step.meta_step(meta_params, problem, batches[0]), rtol=0)
    assert_results_close(again, step.meta_step(meta_params, problem, batches[1]), rtol=0)


def test_an_error_of_the_step_itself_is_raised_not_hidden_by_the_fallback():
    learner, step, problem, batches = sinusoid_setting("maml")
    broken = {key: value for key, value in batches[0].items() if key != "query_y"}
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(KeyError, match="query_y"):
            CompiledAlgorithm(step).meta_step(learner.meta_params(), problem, broken)


def test_auto_compiles_long_supervised_runs_only():
    long_run = AUTO_MIN_ITERATIONS
    assert compile_decision("off", long_run, "supervised", CPU)[0] is False
    assert compile_decision("on", 5, "rl", CPU)[0] is True
    short, why = compile_decision("auto", long_run - 1, "supervised", CPU)
    assert not short and f"{long_run - 1} < {long_run}" in why
    rl, why = compile_decision("auto", long_run, "rl", CPU)
    assert not rl and "RL" in why
    if compiler_available(CPU) is None:
        assert compile_decision("auto", long_run, "supervised", CPU) == (
            True,
            "compile: auto compiles the meta-step",
        )


def test_auto_runs_eager_without_a_cpp_compiler(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no g++, c++ or clang++
    monkeypatch.delenv("CXX", raising=False)
    compiles, why = compile_decision("auto", AUTO_MIN_ITERATIONS, "supervised", CPU)
    assert not compiles and "no C++ compiler" in why
    assert "expect the eager fallback" in compile_decision("on", 1, "supervised", CPU)[1]
