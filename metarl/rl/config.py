"""The RL meta-training configuration (``kind: rl``), loaded by :mod:`metarl.run.config`.

Every field is a frozen dataclass field with a docstring (written as a comment into the resolved
``config.yaml`` of each run); :func:`metarl.run.config.load_config` builds it strictly from YAML and
``--set`` overrides, and each class checks its own values, naming the key, before any work starts.
Defaults are the MAML paper's HalfCheetah setting (Finn et al., 2017, sec. 5.3 and appendix A.2).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Literal

import torch

from metarl.core.adaptation import InnerLoopConfig
from metarl.core.algorithms import ALGORITHMS, HFMAMLConfig, IMAMLConfig, make_algorithm
from metarl.outer.ppo import PPOConfig
from metarl.outer.trpo import TRPOConfig
from metarl.rl.policies import ACTIVATIONS
from metarl.rl.sampler import BACKENDS
from metarl.run.config import DTYPES, ConfigError, LoggingConfig, check_device

OuterKind = Literal["trpo", "ppo", "adam", "sgd"]

TRUST_REGION_ALGORITHMS: tuple[str, ...] = ("maml", "fomaml", "metasgd", "hfmaml")
"""Algorithms whose meta-gradient is the gradient of the post-adaptation surrogate through a
differentiable adaptation, as TRPO's Fisher products and PPO's clipped surrogate require."""


def _known_env_ids() -> list[str]:
    import envs  # registers the metarl/ ids with Gymnasium

    return list(envs.ENV_IDS)


@dataclass(frozen=True)
class EnvConfig:
    """The task distribution: a registered ``metarl/`` Gymnasium environment family."""

    id: str = "metarl/HalfCheetahVel-v0"
    """Environment id, one of ``metarl list``'s RL envs (e.g. metarl/Navigation2D-v0)."""

    def __post_init__(self) -> None:
        known = _known_env_ids()
        if self.id not in known:
            close = difflib.get_close_matches(self.id, known, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"env.id {self.id!r} is not a registered metarl env{hint}; use one of {known}"
            )

    @property
    def family(self) -> str:
        """The family name (``HalfCheetahVel`` for ``metarl/HalfCheetahVel-v0``)."""
        return self.id.split("/", 1)[1].rsplit("-v", 1)[0]


@dataclass(frozen=True)
class PolicyConfig:
    """The policy network: an MLP with a state-independent log-std for continuous actions."""

    hidden: tuple[int, ...] = (100, 100)
    """Hidden layer widths (MAML paper: 100-100; pytorch-maml-rl: 64-64)."""
    activation: str = "relu"
    """Hidden nonlinearity: relu (MAML paper), tanh (pytorch-maml-rl) or elu."""
    init_std: float = 1.0
    """Initial standard deviation of the Gaussian policy's actions."""

    def __post_init__(self) -> None:
        if not self.hidden or any(width < 1 for width in self.hidden):
            raise ConfigError(f"policy.hidden must be a list of widths >= 1, got {self.hidden}")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(
                f"policy.activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}"
            )
        if not self.init_std > 0:
            raise ConfigError(f"policy.init_std must be > 0, got {self.init_std}")


@dataclass(frozen=True)
class OptimizerConfig:
    """Plain gradient outer step (``outer: adam`` or ``outer: sgd``) on the meta-gradient."""

    lr: float = 1e-3
    """Outer learning rate (for Reptile with sgd: the interpolation rate epsilon)."""
    grad_clip: float | None = None
    """Clip the meta-gradient to this global L2 norm; null leaves it unclipped."""

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ConfigError(f"optimizer.lr must be > 0, got {self.lr}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ConfigError(f"optimizer.grad_clip must be > 0 or null, got {self.grad_clip}")


@dataclass(frozen=True)
class RLEvaluationConfig:
    """Held-out adaptation: average return after 0..adapt_steps policy-gradient steps."""

    tasks: int = 40
    """Number of held-out tasks."""
    adapt_steps: int = 3
    """Policy-gradient steps at test time; the curve reports every step from 0 to this
    (MAML paper's adaptation figure: 0..3)."""
    episodes_per_task: int | None = None
    """Episodes per task and step; null uses the training value."""
    later_lr: float | None = None
    """Fixed step size of the steps after the first (MAML paper: 0.05 after a first step of 0.1,
    "halving the learning rate after the first gradient step produced superior performance");
    null keeps inner.lr for every step."""
    seed: int = 1_000_003
    """Seed of the held-out tasks and their rollouts, separate from the training seed."""
    every: int = 0
    """Also evaluate every this many meta-iterations during training; 0 evaluates only at the
    end."""
    random_init: bool = True
    """Also score adaptation from a freshly initialised policy (the MAML paper's random-init
    baseline, same initialisation as the meta-learner's start)."""
    baselines: tuple[str, ...] = ()
    """Folders of SB3 baselines (``metarl baseline``) to score on the same tasks; the default
    folders ``<run_root>/baselines/<Family>-{pretrained,oracle}`` are used too when they exist."""
    video: bool = False
    """Record a before/after-adaptation rollout of the first held-out task (MuJoCo envs need
    offscreen rendering: MUJOCO_GL=egl or osmesa)."""

    def __post_init__(self) -> None:
        if self.tasks < 1:
            raise ConfigError(f"evaluation.tasks must be >= 1, got {self.tasks}")
        if self.adapt_steps < 0:
            raise ConfigError(f"evaluation.adapt_steps must be >= 0, got {self.adapt_steps}")
        if self.episodes_per_task is not None and self.episodes_per_task < 1:
            raise ConfigError(
                f"evaluation.episodes_per_task must be >= 1 or null, got {self.episodes_per_task}"
            )
        if self.seed < 0:
            raise ConfigError(f"evaluation.seed must be >= 0, got {self.seed}")
        if self.every < 0:
            raise ConfigError(
                f"evaluation.every must be >= 0 (0: only at the end), got {self.every}"
            )


def _rl_logging() -> LoggingConfig:
    # RL meta-iterations take seconds, so every one is logged and checkpoints are frequent.
    return LoggingConfig(log_every=1, checkpoint_every=10)


@dataclass(frozen=True)
class RLConfig:
    """An RL meta-training run: env family, policy, sampler, inner adaptation and outer step."""

    name: str = "rl"
    """Run name; the run folder is ``<logging.run_root>/<name>-<time>``."""
    seed: int = 0
    """Seed of the policy initialisation, the training tasks and every rollout."""
    device: str = "cpu"
    """Torch device of the policy and the losses: cpu, cuda or cuda:N (envs step on the CPU)."""
    dtype: Literal["float32", "float64"] = "float32"
    """Floating-point precision of the policy and the episodes."""
    threads: int = 0
    """CPU threads for torch's kernels (``torch.set_num_threads``); 0 keeps torch's default."""
    env: EnvConfig = field(default_factory=EnvConfig)
    """The task distribution."""
    algorithm: str = "maml"
    """Meta-algorithm: maml (second order), fomaml, metasgd, hfmaml, reptile or imaml."""
    outer: OuterKind = "trpo"
    """Outer step: trpo (MAML paper), ppo (ProMP-style), or a plain adam / sgd step on the
    meta-gradient (required for reptile and imaml)."""
    iterations: int = 500
    """Meta-iterations (MAML paper, HalfCheetah: 500)."""
    meta_batch_size: int = 40
    """Tasks per meta-iteration (MAML paper, HalfCheetah: 40)."""
    episodes_per_task: int = 20
    """Episodes per task, both before and after adaptation (MAML paper: 20)."""
    horizon: int = 200
    """Maximum steps per episode (MAML paper: 200; pytorch-maml-rl: 100)."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 1.0
    """GAE lambda; 1.0 gives Monte-Carlo returns minus the baseline (MAML paper)."""
    normalize_advantages: bool = True
    """Normalise advantages per task to zero mean and unit variance (pytorch-maml-rl)."""
    baseline_reg: float = 1e-5
    """Ridge coefficient of the linear feature baseline's least-squares fit."""
    inner: InnerLoopConfig = field(default_factory=lambda: InnerLoopConfig(steps=1, lr=0.1))
    """Inner adaptation: policy-gradient steps on the pre-adaptation episodes (MAML paper: one
    step of size 0.1)."""
    inner_loss: Literal["lvc", "dice", "reinforce"] = "lvc"
    """Inner policy-gradient surrogate: lvc (ProMP's low-variance curvature), dice or reinforce."""
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    """Policy network."""
    trpo: TRPOConfig = field(default_factory=TRPOConfig)
    """TRPO outer step (used when ``outer: trpo``)."""
    ppo: PPOConfig = field(default_factory=PPOConfig)
    """PPO outer step (used when ``outer: ppo``)."""
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    """Plain gradient outer step (used when ``outer`` is adam or sgd)."""
    imaml: IMAMLConfig = field(default_factory=IMAMLConfig)
    """iMAML settings (used when ``algorithm: imaml``)."""
    hfmaml: HFMAMLConfig = field(default_factory=HFMAMLConfig)
    """Hessian-free MAML settings (used when ``algorithm: hfmaml``)."""
    evaluation: RLEvaluationConfig = field(default_factory=RLEvaluationConfig)
    """Held-out adaptation evaluation at the end of training (and every ``evaluation.every``)."""
    sampler_backend: str = "batched"
    """Env-stepping backend of the sampler: ``batched`` (all environments in one multi-threaded
    MuJoCo call, ``envs.batched``) or ``gymnasium`` (one registered env per slot, the reference)."""
    sampler_threads: int = 0
    """Simulation threads of the batched backend; 0 uses every core."""
    logging: LoggingConfig = field(default_factory=_rl_logging)
    """Run folder, TensorBoard and checkpoint cadence."""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.+-]+", self.name):
            raise ConfigError(
                "name must be a non-empty folder-safe name (letters, digits, _ . + -), "
                f"got {self.name!r}"
            )
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, got {self.seed}")
        check_device(self.device)
        if self.threads < 0:
            raise ConfigError(f"threads must be >= 0 (0: torch's default), got {self.threads}")
        if self.algorithm not in ALGORITHMS:
            raise ConfigError(
                f"algorithm {self.algorithm!r} is unknown; choose one of {sorted(ALGORITHMS)}"
            )
        if self.outer in ("trpo", "ppo") and self.algorithm not in TRUST_REGION_ALGORITHMS:
            raise ConfigError(
                f"outer: {self.outer} needs the surrogate's gradient through a differentiable "
                f"adaptation, which algorithm {self.algorithm!r} does not give; use algorithm "
                f"one of {list(TRUST_REGION_ALGORITHMS)}, or outer: adam / sgd"
            )
        for key in ("iterations", "meta_batch_size", "episodes_per_task", "horizon"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if not 0 < self.gamma <= 1:
            raise ConfigError(f"gamma must be in (0, 1], got {self.gamma}")
        if not 0 <= self.gae_lambda <= 1:
            raise ConfigError(f"gae_lambda must be in [0, 1], got {self.gae_lambda}")
        if not self.baseline_reg > 0:
            raise ConfigError(f"baseline_reg must be > 0, got {self.baseline_reg}")
        if self.sampler_threads < 0:
            raise ConfigError(f"sampler_threads must be >= 0, got {self.sampler_threads}")
        if self.sampler_backend not in BACKENDS:
            raise ConfigError(
                f"sampler_backend {self.sampler_backend!r} is unknown; use one of {list(BACKENDS)}"
            )
        try:
            make_algorithm(self.algorithm, self.inner, self.imaml, self.hfmaml)
        except ValueError as error:
            raise ConfigError(str(error)) from None

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]
