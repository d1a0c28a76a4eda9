"""Reptile (Nichol et al., 2018; seed 003, Algorithm 1).

For each task, run k SGD steps from theta on the task's data, phi = U^k(theta), and move the
meta-parameters towards the result:

    theta <- theta + epsilon * mean_i (phi_i - theta)

The direction ``theta - phi`` is returned as the meta-gradient, so plain SGD with learning rate
epsilon reproduces the update above, and any other torch optimizer (Adam, as seed 003 suggests)
can treat it as a gradient. No gradient flows through the inner loop.
"""

from __future__ import annotations

import torch

from metarl.core.adaptation import adapt
from metarl.core.algorithms.base import MetaAlgorithm, MetaStepResult, map_tasks, model_grads
from metarl.core.functional import Params, detach, model_params
from metarl.core.problem import MetaProblem, TaskData, Tasks, num_tasks


class Reptile(MetaAlgorithm):
    name = "reptile"

    def meta_step(self, meta_params: Params, problem: MetaProblem, tasks: Tasks) -> MetaStepResult:
        def task_update(meta_params: Params, task: TaskData):
            params = detach(model_params(meta_params))
            adapted, support_losses = adapt(
                params, lambda p, step: problem.support_loss(p, task, step), meta_params, self.inner
            )
            adapted = detach(adapted)
            direction = {name: params[name] - adapted[name] for name in params}
            metrics = {
                "query_loss_pre": problem.query_loss(params, task),
                "query_loss_post": problem.query_loss(adapted, task),
                **{f"{k}_post": v for k, v in problem.query_metrics(adapted, task).items()},
            }
            if support_losses:
                metrics["support_loss"] = torch.stack(support_losses).detach()
            return direction, metrics

        with torch.no_grad():
            directions, metrics = map_tasks(task_update, meta_params, tasks)
        meta_grads = model_grads({name: d.mean(dim=0) for name, d in directions.items()})
        meta_loss = metrics["query_loss_post"].mean()
        return MetaStepResult(meta_loss, meta_grads, metrics, num_tasks(tasks))
