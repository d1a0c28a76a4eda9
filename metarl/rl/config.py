"""The RL meta-training configuration (``kind: rl``): the shared :class:`RunConfig` plus the env
family, the policy, the sampler, returns and advantages, and the held-out return curves.

Every field is a frozen dataclass field with a docstring (written as a comment into the resolved
``config.yaml`` of each run); :func:`metarl.run.config.load_config` builds it strictly from YAML and
``--set`` overrides, and each class checks its own values, naming the key, before any work starts.
Defaults are the MAML paper's HalfCheetah setting (Finn et al., 2017, sec. 5.3 and appendix A.2).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Literal

from metarl.core.adaptation import InnerLoopConfig
from metarl.errors import ConfigError
from metarl.outer import OuterConfig
from metarl.rl.policies import ACTIVATIONS
from metarl.rl.sampler import BACKENDS
from metarl.run.config import EvaluationConfig, LoggingConfig, RunConfig


def _known_env_ids() -> list[str]:
    import envs  # registers the metarl/ ids with Gymnasium

    return envs.known_env_ids()


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
                f"env.id {self.id!r} is not a registered metarl env{hint}; see `metarl list`"
            )
        if self.meta_world:
            from envs.meta_world import MetaWorldUnavailable, load_metaworld

            try:
                load_metaworld()
            except MetaWorldUnavailable as error:
                raise ConfigError(f"env.id {self.id}: {error}") from None

    @property
    def meta_world(self) -> bool:
        """Whether the family is one of Meta-World's (ML1 / ML10 / ML45)."""
        import envs

        return envs.is_meta_world(self.id)

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
class RLEvaluationConfig(EvaluationConfig):
    """Held-out adaptation: average return after 0..adapt_steps policy-gradient steps."""

    tasks: int = 40
    """Number of held-out tasks."""
    adapt_steps: int = 3
    """Policy-gradient steps at test time; the curve reports every step from 0 to this
    (MAML paper's adaptation figure: 0..3)."""
    episodes_per_task: int | None = None
    """Episodes per task and step; null uses the training value."""
    final_episodes: int | None = None
    """Episodes per task of the last rollout, which is only scored (Meta-World's protocol: 3
    evaluation episodes after 10 adaptation episodes); null uses episodes_per_task."""
    later_lr: float | None = None
    """Fixed step size of the steps after the first (MAML paper: 0.05 after a first step of 0.1,
    "halving the learning rate after the first gradient step produced superior performance");
    null keeps inner.lr for every step."""
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
        super().__post_init__()
        if self.adapt_steps < 0:
            raise ConfigError(f"evaluation.adapt_steps must be >= 0, got {self.adapt_steps}")
        if self.episodes_per_task is not None and self.episodes_per_task < 1:
            raise ConfigError(
                f"evaluation.episodes_per_task must be >= 1 or null, got {self.episodes_per_task}"
            )
        if self.final_episodes is not None and self.final_episodes < 1:
            raise ConfigError(
                f"evaluation.final_episodes must be >= 1 or null, got {self.final_episodes}"
            )


def _rl_logging() -> LoggingConfig:
    # RL meta-iterations take seconds, so every one is logged and checkpoints are frequent.
    return LoggingConfig(log_every=1, checkpoint_every=10)


@dataclass(frozen=True)
class RLConfig(RunConfig):
    """An RL meta-training run: env family, policy, sampler, inner adaptation and outer step."""

    name: str = "rl"
    """Run name; the run folder is ``<logging.run_root>/<name>-<time>``."""
    iterations: int = 500
    """Meta-iterations (MAML paper, HalfCheetah: 500)."""
    meta_batch_size: int = 40
    """Tasks per meta-iteration (MAML paper, HalfCheetah: 40)."""
    inner: InnerLoopConfig = field(default_factory=lambda: InnerLoopConfig(steps=1, lr=0.1))
    """Inner adaptation: policy-gradient steps on the pre-adaptation episodes (MAML paper: one
    step of size 0.1)."""
    outer: OuterConfig = field(default_factory=lambda: OuterConfig(kind="trpo"))
    """Outer step: trpo (MAML paper), ppo (ProMP-style), or a plain adam / sgd step on the
    meta-gradient (required for reptile and imaml), with its settings."""
    evaluation: RLEvaluationConfig = field(default_factory=RLEvaluationConfig)
    """Held-out adaptation evaluation at the end of training (and every ``evaluation.every``)."""
    logging: LoggingConfig = field(default_factory=_rl_logging)
    """Run folder, TensorBoard and checkpoint cadence."""
    env: EnvConfig = field(default_factory=EnvConfig)
    """The task distribution."""
    episodes_per_task: int = 20
    """Episodes per task, both before and after adaptation (MAML paper: 20)."""
    horizon: int = 200
    """Maximum steps per episode (MAML paper: 200; pytorch-maml-rl: 100)."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 1.0
    """GAE lambda; 1.0 gives Monte-Carlo returns minus the baseline (MAML paper)."""
    normalize_advantages: bool = True
    """Normalise advantages per task to zero mean and unit variance over all valid steps of the
    task (rllab and the MAML code)."""
    baseline_reg: float = 1e-5
    """Ridge coefficient of the linear feature baseline's least-squares fit."""
    inner_loss: Literal["lvc", "dice", "reinforce"] = "lvc"
    """Inner policy-gradient surrogate: lvc (ProMP's low-variance curvature), dice or reinforce."""
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    """Policy network."""
    sampler_backend: str = "batched"
    """Env-stepping backend of the sampler: ``batched`` (all environments in one multi-threaded
    MuJoCo call, ``envs.batched``) or ``gymnasium`` (one registered env per slot, the reference)."""
    sampler_threads: int = 0
    """Simulation threads of the batched backend; 0 uses every core."""

    problem_kind = "rl"

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("episodes_per_task", "horizon"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if not 0 < self.gamma <= 1:
            raise ConfigError(f"gamma must be in (0, 1], got {self.gamma}")
        if not 0 <= self.gae_lambda <= 1:
            raise ConfigError(f"gae_lambda must be in [0, 1], got {self.gae_lambda}")
        if not self.baseline_reg > 0:
            raise ConfigError(f"baseline_reg must be > 0, got {self.baseline_reg}")
        if self.env.meta_world:
            from envs.meta_world import MAX_PATH_LENGTH

            if self.horizon > MAX_PATH_LENGTH:
                raise ConfigError(
                    f"horizon {self.horizon} exceeds Meta-World's {MAX_PATH_LENGTH}-step limit "
                    f"(its envs refuse step {MAX_PATH_LENGTH + 1}); set horizon <= "
                    f"{MAX_PATH_LENGTH}"
                )
        if self.sampler_threads < 0:
            raise ConfigError(f"sampler_threads must be >= 0, got {self.sampler_threads}")
        if self.sampler_backend not in BACKENDS:
            raise ConfigError(
                f"sampler_backend {self.sampler_backend!r} is unknown; use one of {list(BACKENDS)}"
            )
