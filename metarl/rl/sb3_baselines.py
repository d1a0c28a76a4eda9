"""Stable-Baselines3 baselines for the MAML adaptation figure.

The MAML paper (Finn et al., 2017, sec. 5.3) compares meta-learned initialisations against

* **pretrained**: one policy trained on tasks drawn from the whole distribution (here SB3 PPO with
  a new task at every episode), then adapted with the same policy-gradient steps;
* **random init**: the same adaptation from a freshly initialised policy (no training, built by
  :mod:`metarl.rl.held_out`);
* **oracle**: a policy that sees the task in its observation (the ``...Oracle`` envs).

``metarl baseline {pretrained,oracle} ENV`` trains one with SB3's PPO (the MuJoCo settings of
Schulman et al., 2017: 2048 steps per update, 10 epochs of minibatch 64, lr 3e-4, gamma 0.99,
lambda 0.95, clip 0.2) on an ``MlpPolicy`` whose actor has exactly our policy's architecture, and
saves it both as SB3's zip and as our policy's parameters (through :mod:`metarl.rl.sb3_weights`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import gymnasium
import numpy as np

from metarl.core.functional import Params
from metarl.rl.config import PolicyConfig
from metarl.rl.policies import Policy, make_policy
from metarl.rl.sb3_weights import sb3_policy_kwargs, sb3_to_policy_params
from metarl.run.checkpoint import load_checkpoint, save_checkpoint

if TYPE_CHECKING:
    from envs.base import TaskEnv

BaselineKind = Literal["pretrained", "oracle"]
BASELINE_KINDS: tuple[str, ...] = ("pretrained", "oracle")
POLICY_FILE = "policy.pt"
SB3_FILE = "sb3_model.zip"
INFO_FILE = "baseline.json"


# --------------------------------------------------------------------------------------------
# Training the baselines
# --------------------------------------------------------------------------------------------


class TaskResampling(gymnasium.Wrapper):
    """Draws a fresh task from the env family's distribution at every ``reset``.

    Trained under this wrapper, a policy sees the whole task distribution (the MAML paper's
    "pretrained" baseline; with an oracle env, the oracle baseline).
    """

    def __init__(self, env: gymnasium.Env, rng: np.random.Generator) -> None:
        super().__init__(env)
        self.rng = rng

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        task = cast("TaskEnv", self.env.unwrapped).sample_tasks(1, self.rng)[0]  # a metarl env
        return self.env.reset(seed=seed, options={**(options or {}), "task": task})


class UnclippedActions(gymnasium.ActionWrapper):
    """Widens the action bounds to +-1e6, so SB3 steps the env with its raw Gaussian action.

    SB3 clips a Box action to its bounds before stepping, so it would train on the control cost
    of the clipped action; our sampler, like the MAML and pytorch-maml-rl code, passes the raw
    action (MuJoCo clamps the control itself) and charges the cost of the raw action. With bounds
    no Gaussian sample reaches (SB3 requires finite ones), SB3 trains on exactly the reward its
    policy is evaluated with.
    """

    LIMIT = 1e6

    def __init__(self, env: gymnasium.Env) -> None:
        super().__init__(env)
        space = cast(gymnasium.spaces.Box, env.action_space)  # SB3 baselines are continuous-control
        self.action_space = gymnasium.spaces.Box(-self.LIMIT, self.LIMIT, space.shape, space.dtype)

    def action(self, action: np.ndarray) -> np.ndarray:
        return action


@dataclass(frozen=True)
class BaselineSettings:
    """How a baseline is trained with SB3 PPO.

    Attributes:
        timesteps: environment steps of PPO training.
        seed: seed of SB3 (network initialisation, action noise) and of the task draws.
        horizon: episode length (the meta-training horizon).
        n_envs: environments stepped together by SB3's ``DummyVecEnv``.
        n_steps: steps per env between PPO updates.
        batch_size: PPO minibatch size.
        n_epochs: PPO epochs per update.
        learning_rate: Adam step size.
        gamma: discount factor.
        gae_lambda: GAE lambda.
        clip_range: PPO clipping epsilon.
        policy: network architecture (must match the meta-trained policy to compare adaptation).
    """

    timesteps: int = 1_000_000
    seed: int = 0
    horizon: int = 200
    n_envs: int = 1
    n_steps: int = 2048
    batch_size: int = 64
    n_epochs: int = 10
    learning_rate: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    policy: PolicyConfig = field(default_factory=PolicyConfig)

    def __post_init__(self) -> None:
        for key in ("timesteps", "horizon", "n_envs", "n_steps", "batch_size", "n_epochs"):
            if getattr(self, key) < 1:
                raise ValueError(f"baseline {key} must be >= 1, got {getattr(self, key)}")
        if self.seed < 0:
            raise ValueError(f"baseline seed must be >= 0, got {self.seed}")


@dataclass(frozen=True)
class BaselinePolicy:
    """A trained baseline loaded for evaluation: our policy's parameters and where they apply.

    Attributes:
        kind: ``pretrained`` or ``oracle``.
        env_id: the env the policy acts in (the oracle id for an oracle).
        family_env_id: the plain (non-oracle) id of the task family.
        policy: architecture of the saved parameters.
        params: our policy's parameters (CPU tensors).
        timesteps: PPO training steps.
    """

    kind: str
    env_id: str
    family_env_id: str
    policy: PolicyConfig
    params: Params
    timesteps: int

    def build_policy(self) -> Policy:
        """A policy module of the saved architecture for ``env_id`` (parameters not loaded)."""
        env = gymnasium.make(self.env_id)
        try:
            return make_policy(
                env.observation_space,
                env.action_space,
                self.policy.hidden,
                self.policy.activation,
                self.policy.init_std,
            )
        finally:
            env.close()


def resolve_env_id(env: str) -> str:
    """``HalfCheetahVel`` or ``metarl/HalfCheetahVel-v0`` -> the registered plain family id."""
    import envs

    if env in envs.FAMILIES:
        return envs.env_id(env)
    if env in envs.ENV_IDS:
        family = envs.ENV_IDS[env].task_type.family
        return envs.env_id(family)
    if envs.is_meta_world(env):
        return env
    raise ValueError(
        f"unknown environment {env!r}; pass a family ({', '.join(envs.FAMILIES)}) "
        "or a registered metarl id (`metarl list`)"
    )


def baseline_env_id(kind: str, env_id: str) -> str:
    """The env a baseline acts in: the family's oracle variant for ``oracle``."""
    import envs

    if kind not in BASELINE_KINDS:
        raise ValueError(f"baseline kind must be one of {BASELINE_KINDS}, got {kind!r}")
    family_id = resolve_env_id(env_id)
    if envs.is_meta_world(family_id):
        if kind == "oracle":
            raise ValueError(
                f"{family_id} has no oracle variant (Meta-World's goal-observable envs are a "
                "multi-task setting); train a pretrained baseline instead"
            )
        return family_id
    family = envs.ENV_IDS[family_id].task_type.family
    return envs.env_id(family, oracle=kind == "oracle")


def default_baseline_dir(run_root: str | Path, kind: str, env_id: str) -> Path:
    """``<run_root>/baselines/<Family>-<kind>``, where ``metarl evaluate`` looks by default."""
    import envs

    family = envs.family_name(resolve_env_id(env_id))
    return Path(run_root) / "baselines" / f"{family}-{kind}"


def train_baseline(
    kind: BaselineKind,
    env_id: str,
    settings: BaselineSettings,
    out_dir: str | Path,
    *,
    progress: bool = False,
) -> BaselinePolicy:
    """Train a ``pretrained`` or ``oracle`` baseline with SB3 PPO and save it into ``out_dir``.

    Writes ``sb3_model.zip`` (SB3's own format), ``policy.pt`` (our policy's parameters, a metarl
    checkpoint), ``baseline.json`` (settings) and SB3's TensorBoard events.
    """
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    family_id = resolve_env_id(env_id)
    acting_id = baseline_env_id(kind, family_id)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seeds = np.random.SeedSequence(settings.seed).spawn(settings.n_envs)

    def make_env(index: int):
        def thunk() -> gymnasium.Env:
            env = gymnasium.make(acting_id, max_episode_steps=settings.horizon)
            env = (
                UnclippedActions(env) if isinstance(env.action_space, gymnasium.spaces.Box) else env
            )
            return TaskResampling(env, np.random.default_rng(seeds[index]))

        return thunk

    vec_env = DummyVecEnv([make_env(i) for i in range(settings.n_envs)])
    model = PPO(
        "MlpPolicy",
        vec_env,
        n_steps=settings.n_steps,
        batch_size=settings.batch_size,
        n_epochs=settings.n_epochs,
        learning_rate=settings.learning_rate,
        gamma=settings.gamma,
        gae_lambda=settings.gae_lambda,
        clip_range=settings.clip_range,
        policy_kwargs=sb3_policy_kwargs(settings.policy),
        tensorboard_log=str(out_dir),
        seed=settings.seed,
        device="cpu",
        verbose=0,
    )
    model.learn(total_timesteps=settings.timesteps, progress_bar=progress, tb_log_name="ppo")
    vec_env.close()
    model.save(out_dir / SB3_FILE)

    baseline = BaselinePolicy(
        kind=kind,
        env_id=acting_id,
        family_env_id=family_id,
        policy=settings.policy,
        params={},
        timesteps=settings.timesteps,
    )
    policy = baseline.build_policy()
    baseline = dataclasses.replace(baseline, params=sb3_to_policy_params(model, policy))
    save_checkpoint(
        out_dir / POLICY_FILE,
        {
            "kind": kind,
            "env_id": acting_id,
            "family_env_id": family_id,
            "policy": dataclasses.asdict(settings.policy),
            "params": baseline.params,
            "timesteps": settings.timesteps,
        },
    )
    info = dataclasses.asdict(settings) | {"kind": kind, "env_id": acting_id}
    (out_dir / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
    return baseline


def load_baseline(path: str | Path) -> BaselinePolicy:
    """A baseline saved by :func:`train_baseline` (its folder or its ``policy.pt``)."""
    path = Path(path)
    state = load_checkpoint(path / POLICY_FILE if path.is_dir() else path)
    policy = state["policy"]
    return BaselinePolicy(
        kind=state["kind"],
        env_id=state["env_id"],
        family_env_id=state["family_env_id"],
        policy=PolicyConfig(
            hidden=tuple(policy["hidden"]),
            activation=policy["activation"],
            init_std=policy["init_std"],
        ),
        params=state["params"],
        timesteps=int(state["timesteps"]),
    )


# --------------------------------------------------------------------------------------------
# metarl baseline {pretrained,oracle} ENV
# --------------------------------------------------------------------------------------------


def add_baseline(subparsers: Any) -> None:
    """Register ``metarl baseline`` on the ``metarl`` command's subparsers."""
    parser = subparsers.add_parser(
        "baseline",
        help="train an SB3 PPO baseline (pretrained or oracle) for an RL env family",
        description="Train SB3 PPO on tasks drawn from ENV's whole distribution (pretrained) or on "
        "its oracle variant (oracle), with the policy architecture of --config, and save it where "
        "`metarl evaluate` finds it (<run_root>/baselines/<Family>-<kind>/).",
    )
    parser.add_argument("kind", choices=BASELINE_KINDS, help="which baseline")
    parser.add_argument("env", metavar="ENV", help="family (HalfCheetahVel) or metarl env id")
    parser.add_argument(
        "--config",
        metavar="CONFIG",
        help="RL config whose policy, horizon, gamma, seed and logging.run_root to use",
    )
    parser.add_argument("--timesteps", type=int, default=1_000_000, help="PPO environment steps")
    parser.add_argument("--n-envs", type=int, default=1, help="environments stepped together")
    parser.add_argument("--seed", type=int, help="seed (default: the config's seed, or 0)")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: see above)")
    parser.add_argument("--progress", action="store_true", help="show SB3's progress bar")
    parser.set_defaults(handler=run_baseline)


def run_baseline(args: argparse.Namespace) -> int:
    from metarl.errors import ConfigError
    from metarl.rl.config import RLConfig
    from metarl.run.config import load_config

    try:
        family_id = resolve_env_id(args.env)
        settings = BaselineSettings(timesteps=args.timesteps, n_envs=args.n_envs, seed=0)
        run_root: str | Path = "runs"
        if args.config is not None:
            config = load_config(args.config)
            if not isinstance(config, RLConfig):
                raise ConfigError(f"{args.config} is not an RL config (kind: rl)")
            if resolve_env_id(config.env.id) != family_id:
                raise ConfigError(
                    f"{args.config} trains on {config.env.id}, not on {family_id}; "
                    "pass the config of the same env family"
                )
            settings = dataclasses.replace(
                settings,
                seed=config.seed,
                horizon=config.horizon,
                gamma=config.gamma,
                policy=config.policy,
            )
            run_root = config.logging.run_root
        else:
            # Every metarl id registers a max_episode_steps (envs._register_all).
            horizon = cast(int, gymnasium.spec(family_id).max_episode_steps)
            settings = dataclasses.replace(settings, horizon=horizon)
        if args.seed is not None:
            settings = dataclasses.replace(settings, seed=args.seed)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out_dir = Path(args.out) if args.out else default_baseline_dir(run_root, args.kind, family_id)
    print(f"training the {args.kind} baseline on {family_id} for {settings.timesteps} steps")
    train_baseline(args.kind, family_id, settings, out_dir, progress=args.progress)
    print(f"baseline saved to {out_dir} (evaluate a run with: metarl evaluate RUN_DIR)")
    return 0
