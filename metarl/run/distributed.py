"""Meta-training across processes with ``torch.distributed``: the meta-batch sharded over ranks.

Started by ``torchrun`` (which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``), every rank draws the same full meta-batch from the shared seed, keeps its own
contiguous share of the tasks (:meth:`DistributedContext.shard`), adapts them locally, and the
per-rank means are combined as task-weighted means (:meth:`DistributedContext.task_mean`):

    g = sum_r n_r g_r / sum_r n_r,

which is the single-process mean over all tasks even when the shares ``n_r`` differ. Without
``torchrun`` (``WORLD_SIZE`` unset or 1) the context is a no-op and nothing is initialised.

A rank that dies or hangs makes the others' collectives fail after ``timeout_s`` seconds; the
error names the rank and the collective, the job stops, and the last checkpoint (written by rank
0 atomically, before the failing iteration) stays good.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import NoReturn, cast

import torch
import torch.distributed as dist
from torch import Tensor

from metarl.core.algorithms.base import MetaAlgorithm, MetaStepResult
from metarl.core.functional import Params
from metarl.core.problem import MetaProblem, TaskData, Tasks, num_tasks


class DistributedError(RuntimeError):
    """A collective failed or timed out: another rank died or hangs."""


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in the job: its rank, the world size and its device."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: str | None = None
    timeout_s: float = 600.0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes TensorBoard events, checkpoints and the console progress."""
        return self.rank == 0

    def shard(self, num_tasks: int) -> slice:
        """This rank's contiguous share of ``num_tasks`` tasks; the first ranks take one more."""
        if num_tasks < self.world_size:
            raise ValueError(
                f"meta_batch_size {num_tasks} is smaller than the {self.world_size} processes; "
                "every rank needs at least one task: raise meta_batch_size or use fewer processes"
            )
        base, extra = divmod(num_tasks, self.world_size)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (1 if self.rank < extra else 0))

    def share_size(self, num_tasks: int) -> int:
        """How many of ``num_tasks`` tasks this rank holds."""
        return len(range(num_tasks)[self.shard(num_tasks)])

    def task_mean(self, local_means: Sequence[Tensor], local_tasks: int) -> list[Tensor]:
        """Combine per-rank means over ``local_tasks`` tasks into means over all ranks' tasks."""
        if not self.is_distributed:
            return list(local_means)
        flat = torch.cat([m.detach().reshape(-1) for m in local_means])
        weighted = torch.cat([flat * local_tasks, flat.new_tensor([float(local_tasks)])])
        self._all_reduce(weighted, "task_mean")
        total = weighted[-1]
        means = weighted[:-1] / total
        out, offset = [], 0
        for m in local_means:
            out.append(means[offset : offset + m.numel()].view_as(m).to(m.dtype))
            offset += m.numel()
        return out

    def task_sum(self, local_sums: Sequence[Tensor]) -> list[Tensor]:
        """Sum tensors over ranks (for totals such as episode counts and environment steps)."""
        if not self.is_distributed:
            return list(local_sums)
        flat = torch.cat([s.detach().reshape(-1).to(torch.float64) for s in local_sums])
        self._all_reduce(flat, "task_sum")
        out, offset = [], 0
        for s in local_sums:
            out.append(flat[offset : offset + s.numel()].view_as(s).to(s.dtype))
            offset += s.numel()
        return out

    def gather(self, local: Tensor) -> Tensor:
        """Concatenate every rank's ``local`` (shares in rank order) along dim 0."""
        if not self.is_distributed:
            return local
        shares: list[Tensor | None] = [None] * self.world_size
        try:
            dist.all_gather_object(shares, local.detach().cpu())
        except Exception as error:
            raise DistributedError(
                f"rank {self.rank}/{self.world_size}: gathering per-task values failed ({error})"
            ) from None
        # all_gather_object has filled every slot with a rank's tensor.
        return torch.cat(cast(list[Tensor], shares)).to(local.device)

    def barrier(self) -> None:
        """Wait until every rank gets here (at most ``timeout_s``)."""
        if self.is_distributed:
            self._all_reduce(torch.zeros(1, device=self.device), "barrier")

    def _all_reduce(self, tensor: Tensor, what: str) -> None:
        try:
            dist.all_reduce(tensor)
        except Exception as error:  # gloo and nccl raise several types on timeouts and aborts
            raise DistributedError(
                f"rank {self.rank}/{self.world_size}: the {what} all-reduce failed ({error}). "
                f"Another rank died or did not answer within {self.timeout_s:g} s "
                "(metarl train --dist-timeout); the job stops here and the last checkpoint "
                "is intact"
            ) from None


class ShardedAlgorithm(MetaAlgorithm):
    """A meta-algorithm run on this rank's share of the tasks, its meta-loss, meta-gradient and
    metrics averaged over all ranks (task-weighted), so every outer step built on ``meta_step``
    (Adam, SGD, TRPO's gradient, PPO's epochs) takes the single-process step on every rank.
    Per-task metrics become their mean over all tasks (a task dimension of one)."""

    supports_learned_lr = True  # the wrapped algorithm has checked its own inner config

    def __init__(self, algorithm: MetaAlgorithm, context: DistributedContext) -> None:
        super().__init__(algorithm.inner)
        self.algorithm = algorithm
        self.context = context
        self.name = algorithm.name

    def meta_step(self, meta_params: Params, problem: MetaProblem, tasks: Tasks) -> MetaStepResult:
        result = self.algorithm.meta_step(meta_params, problem, tasks)
        grads, metrics = result.meta_grads, result.metrics
        local = [result.meta_loss, *grads.values(), *(m.mean(dim=0) for m in metrics.values())]
        reduced = self.context.task_mean(local, num_tasks(tasks))
        meta_loss, rest = reduced[0], reduced[1:]
        return MetaStepResult(
            meta_loss=meta_loss,
            meta_grads=dict(zip(grads, rest[: len(grads)], strict=True)),
            metrics={k: v.unsqueeze(0) for k, v in zip(metrics, rest[len(grads) :], strict=True)},
            num_tasks=num_tasks(tasks),
        )

    def adapt_task(self, meta_params: Params, problem: MetaProblem, task: TaskData) -> Params:
        return self.algorithm.adapt_task(meta_params, problem, task)

    def adapted_params(self, meta_params: Params, problem: MetaProblem, tasks: Tasks) -> Params:
        return self.algorithm.adapted_params(meta_params, problem, tasks)


def init_distributed(device: str, timeout_s: float = 600.0) -> DistributedContext:
    """Join the ``torchrun`` job described by the environment, or run alone without one.

    The backend is chosen from the device: nccl for CUDA, gloo on the CPU. With several GPUs,
    each rank takes the GPU of its ``LOCAL_RANK``.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    base_device = torch.device(device)
    if world_size <= 1:
        return DistributedContext(device=base_device, timeout_s=timeout_s)
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if base_device.type == "cuda":
        base_device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(base_device)
        backend = "nccl"
        os.environ.setdefault("TORCH_NCCL_ASYNC_ERROR_HANDLING", "1")
    else:
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(
            backend, rank=rank, world_size=world_size, timeout=timedelta(seconds=timeout_s)
        )
    return DistributedContext(rank, world_size, base_device, backend, timeout_s)


def shutdown_distributed(context: DistributedContext) -> None:
    if context.is_distributed and dist.is_initialized():
        dist.destroy_process_group()


def exit_rank(code: int) -> NoReturn:
    """End a ``torchrun`` rank whose process group is destroyed, without interpreter teardown.

    Once in CI, under full load, a two-rank gloo job that had written every file and printed its
    report still died with SIGABRT ("terminate called without an active exception") while the
    interpreter tore down torch's C++ state, and torchrun then declared the whole job failed. By
    this point the checkpoint, events and report are closed, so the rank flushes its output and
    leaves with its own status instead.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
