"""The ``metarl`` command: ``train``, ``evaluate``, ``list``, ``bench``, ``baseline``, ``curves``
and ``toy``.

Every mistake in the input (config key or value, task, data folder, checkpoint) is reported as one
``error: ...`` line with exit status 2 before any work starts. To add a subcommand, write an
``add_<name>(subparsers)`` function that registers its parser with ``set_defaults(handler=...)``
(a function ``(args) -> int``) and append it to :data:`SUBCOMMANDS`.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch.distributed

from metarl.run.checkpoint import CheckpointError, load_checkpoint
from metarl.run.config import ConfigError, config_from_dict, config_kind, load_config
from metarl.run.distributed import (
    DistributedContext,
    DistributedError,
    exit_rank,
    init_distributed,
    shutdown_distributed,
)
from metarl.supervised.trainer import (
    CHECKPOINT_NAME,
    CONFIG_NAME,
    EVALUATION_STEM,
    NonFiniteError,
    Trainer,
)

TRAINERS: dict[str, str] = {
    "supervised": "metarl.supervised.trainer:SupervisedTrainer",
    "rl": "metarl.rl.trainer:RLTrainer",
}
"""Config ``kind`` -> ``"module:Class"`` of the trainer that runs it (imported on first use)."""

RESUMABLE_KEYS = ("iterations", "logging", "evaluation", "task.omniglot.data_root")
"""Keys ``--set`` may change when resuming: none of them changes the training numbers."""

BENCHMARKS = ("supervised", "sampler", "outer")

EXIT_INPUT_ERROR = 2
EXIT_NON_FINITE = 1
EXIT_INTERRUPTED = 130
EXIT_DISTRIBUTED = 3

# Errors that mean "the input is wrong", raised while loading and building, before any work.
INPUT_ERRORS = (ConfigError, CheckpointError, ValueError, OSError)


def keep_freed_memory() -> None:
    """Stop glibc from handing large freed blocks back to the operating system.

    glibc serves every allocation above its mmap threshold (up to 32 MiB) with a fresh mmap and
    unmaps it on free, so every 64 MiB activation of a 40-task x 4,000-step RL batch is faulted in
    and zeroed again on each pass: a third of a HalfCheetahVel TRPO step went to the kernel.
    Freed memory is kept for reuse instead (the process keeps the peak footprint it reaches anyway).
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl): nothing to tune
        return
    m_trim_threshold, m_mmap_max = -1, -4  # <malloc.h>
    libc.mallopt(m_mmap_max, 0)
    libc.mallopt(m_trim_threshold, 1 << 30)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``metarl`` command line; returns the process exit status."""
    keep_freed_memory()
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.handler(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metarl", description="Meta-learning (MAML family) for supervised and RL tasks."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_INPUT_ERROR


# --------------------------------------------------------------------------------------------
# metarl train
# --------------------------------------------------------------------------------------------


def add_train(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "train",
        help="meta-train from a YAML config, or resume a run",
        description="Meta-train from CONFIG into runs/<name>-<time>/, or continue a run with "
        "--resume RUN_DIR (same numbers as a run that never stopped).",
    )
    parser.add_argument(
        "config", nargs="?", help="YAML config, e.g. experiments/sinusoid_maml.yaml"
    )
    add_override_arguments(parser)
    parser.add_argument(
        "--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its checkpoint"
    )
    parser.add_argument(
        "--run-dir", metavar="DIR", help="write the run here instead of runs/<name>-<time>"
    )
    parser.add_argument(
        "--dist-timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="under torchrun: stop the whole job when a rank has not answered for this long "
        "(also bounds how long the other ranks wait for rank 0's final evaluation)",
    )
    parser.set_defaults(handler=run_train)


def add_override_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value (dotted key, YAML value), e.g. --set outer.lr=1e-3",
    )
    parser.add_argument(
        "--data-root",
        metavar="DIR",
        help="data folder of a dataset task family (same as --set task.omniglot.data_root=DIR)",
    )


def overrides_of(args: argparse.Namespace) -> list[str]:
    overrides = list(args.overrides)
    if args.data_root is not None:
        overrides.append(f"task.omniglot.data_root={args.data_root}")
    return overrides


def run_train(args: argparse.Namespace) -> int:
    context = None
    try:
        if not args.dist_timeout > 0:
            raise ConfigError(f"--dist-timeout must be > 0 seconds, got {args.dist_timeout}")
        trainer = prepare_resume(args) if args.resume else prepare_new_run(args)
        context = getattr(trainer, "context", None)
    except INPUT_ERRORS as error:
        return fail(str(error))
    code = train_and_report(trainer, context)
    if context is not None and context.is_distributed:
        exit_rank(code)
    return code


def train_and_report(trainer: Trainer, context: DistributedContext | None) -> int:
    """Train to the end, leave the ``torchrun`` job if in one, and print the report; the exit
    status."""
    main_rank = context is None or context.is_main
    if main_rank:
        print(f"run directory: {trainer.run_dir}")
    try:
        curves = trainer.train()
        if context is not None:
            # Leave together: a rank tearing down its process group while rank 0 still
            # evaluates can abort inside gloo. The wait is bounded by --dist-timeout.
            context.barrier()
    except NonFiniteError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_NON_FINITE
    except DistributedError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_DISTRIBUTED
    except KeyboardInterrupt:
        if (trainer.run_dir / CHECKPOINT_NAME).exists():
            hint = f"continue with: metarl train --resume {trainer.run_dir}"
        else:
            every = trainer.config.logging.checkpoint_every
            hint = f"no checkpoint yet (one is written every {every} iterations); start again"
        print(f"\ninterrupted; {hint}", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if context is not None:
            shutdown_distributed(context)
    if main_rank:
        print_report(trainer, curves, trainer.run_dir)
    return 0


def build_trainer(config: Any, run_dir: Path, args: argparse.Namespace) -> Trainer:
    """The config's trainer; under ``torchrun``, joined to the job with its shard of the tasks.

    Rank 0 picks a new run folder's name and every rank uses it.
    """
    context = init_distributed(config.device, args.dist_timeout)
    cls = trainer_class(config)
    if not context.is_distributed:
        return cls(config, run_dir)
    shared = [str(run_dir)]
    torch.distributed.broadcast_object_list(shared, src=0)
    return cls(config, Path(shared[0]), context=context)


def prepare_new_run(args: argparse.Namespace) -> Trainer:
    if args.config is None:
        raise ConfigError("pass a CONFIG file to train, or --resume RUN_DIR to continue a run")
    config = load_config(args.config, overrides_of(args))
    run_dir = Path(args.run_dir) if args.run_dir else new_run_dir(config)
    if (run_dir / CHECKPOINT_NAME).exists():
        raise ConfigError(
            f"{run_dir} already holds a run; continue it with --resume {run_dir} "
            "or choose another --run-dir"
        )
    return build_trainer(config, run_dir, args)


def prepare_resume(args: argparse.Namespace) -> Trainer:
    if args.config is not None or args.run_dir is not None:
        raise ConfigError(
            "--resume takes the config and folder from the run; pass no CONFIG or --run-dir"
        )
    run_dir = Path(args.resume)
    if not run_dir.is_dir():
        raise ConfigError(f"--resume {run_dir}: no such run folder")
    overrides = overrides_of(args)
    for override in overrides:
        key = override.partition("=")[0].strip()
        if not any(key == k or key.startswith(k + ".") for k in RESUMABLE_KEYS):
            raise ConfigError(
                f"--set {key} cannot change when resuming (it would change the results); "
                f"resumable keys: {', '.join(RESUMABLE_KEYS)}. Start a new run to change it"
            )
    state = load_checkpoint(run_dir / CHECKPOINT_NAME)
    if not isinstance(state.get("config"), dict):
        raise CheckpointError(f"{run_dir / CHECKPOINT_NAME} holds no config; it cannot be resumed")
    config = config_from_dict(state["config"], overrides)
    done = int(state.get("iteration", 0))
    if config.iterations < done:
        raise ConfigError(
            f"the checkpoint has completed {done} iterations; iterations must be >= {done} "
            f"to resume (got {config.iterations})"
        )
    trainer = build_trainer(config, run_dir, args)
    trainer.load_state_dict(state)
    return trainer


def new_run_dir(config: Any) -> Path:
    """``<run_root>/<name>-<YYYYmmdd-HHMMSS>``, with a numeric suffix if that exists already."""
    base = Path(config.logging.run_root) / f"{config.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    candidate, suffix = base, 1
    while candidate.exists():
        candidate, suffix = base.with_name(f"{base.name}-{suffix}"), suffix + 1
    return candidate


def trainer_class(config: Any) -> Callable[[Any, Path], Trainer]:
    kind = config_kind(config)
    module_name, _, class_name = TRAINERS[kind].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"{kind} runs are not available in this install ({error})") from None
    return getattr(module, class_name)


def print_report(trainer: Trainer, curves: dict[str, Any], out_dir: Path) -> None:
    print(trainer.summary(curves))
    print(
        f"report: {out_dir / (EVALUATION_STEM + '.json')}, {out_dir / (EVALUATION_STEM + '.png')}"
    )


# --------------------------------------------------------------------------------------------
# metarl evaluate
# --------------------------------------------------------------------------------------------


def add_evaluate(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="adaptation curves of a trained run on held-out tasks",
        description="Load RUN_DIR's config.yaml and checkpoint, adapt to held-out tasks and write "
        "evaluation.json / evaluation.png (defaults: the run's evaluation settings).",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by metarl train")
    parser.add_argument("--tasks", type=int, help="number of held-out tasks")
    parser.add_argument(
        "--steps",
        "--adapt-steps",
        dest="steps",
        type=int,
        help="inner steps at test time (RL: policy-gradient steps, resampling after each)",
    )
    parser.add_argument(
        "--support", type=int, nargs="+", metavar="K", help="support sizes (shots), e.g. 5 10 20"
    )
    parser.add_argument("--seed", type=int, help="seed of the held-out task generator")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: the run's device)")
    parser.add_argument("--out", metavar="DIR", help="write the report here (default: RUN_DIR)")
    parser.add_argument(
        "--video",
        action="store_true",
        default=None,
        help="RL: record a before/after-adaptation rollout (MuJoCo: MUJOCO_GL=egl or osmesa)",
    )
    parser.add_argument(
        "--baseline",
        action="append",
        metavar="DIR",
        help="RL: an SB3 baseline folder (metarl baseline) to score on the same tasks; repeatable",
    )
    add_override_arguments(parser)
    parser.set_defaults(handler=run_evaluate)


EVALUATE_OPTIONS: dict[str, dict[str, str]] = {
    "supervised": {
        "tasks": "evaluation.tasks",
        "steps": "evaluation.steps",
        "support": "evaluation.support_sizes",
        "seed": "evaluation.seed",
        "device": "device",
    },
    "rl": {
        "tasks": "evaluation.tasks",
        "steps": "evaluation.adapt_steps",
        "seed": "evaluation.seed",
        "device": "device",
        "video": "evaluation.video",
        "baseline": "evaluation.baselines",
    },
}
"""Config kind -> ``metarl evaluate`` option -> the config key it overrides."""


def run_evaluate(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    try:
        if not (run_dir / CONFIG_NAME).is_file():
            raise ConfigError(
                f"{run_dir} has no {CONFIG_NAME}; pass a folder written by metarl train"
            )
        kind = config_kind(load_config(run_dir / CONFIG_NAME))
        options = EVALUATE_OPTIONS[kind]
        names = ("tasks", "steps", "support", "seed", "device", "video", "baseline")
        given = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
        unused = sorted(set(given) - set(options))
        if unused:
            raise ConfigError(f"--{unused[0]} does not apply to a {kind} run")
        overrides = [f"{options[name]}={value}" for name, value in given.items()]
        config = load_config(run_dir / CONFIG_NAME, overrides + overrides_of(args))
        trainer = trainer_class(config)(config, run_dir)
        trainer.load_state_dict(load_checkpoint(run_dir / CHECKPOINT_NAME))
    except INPUT_ERRORS as error:
        return fail(str(error))
    out_dir = Path(args.out) if args.out else run_dir
    print_report(trainer, trainer.evaluate_to(out_dir), out_dir)
    return 0


# --------------------------------------------------------------------------------------------
# metarl list
# --------------------------------------------------------------------------------------------


def add_list(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "list", help="algorithms, task families, RL environments and shipped configs"
    )
    parser.set_defaults(handler=run_list)


def run_list(args: argparse.Namespace) -> int:
    from metarl.core.algorithms import SUMMARIES
    from metarl.supervised.tasks import TASK_FAMILIES

    print("algorithms:")
    for name, summary in SUMMARIES.items():
        print(f"  {name:<10} {summary}")
    print("supervised task families:")
    for name, config_cls in TASK_FAMILIES.items():
        print(f"  {name:<10} {(config_cls.__doc__ or '').strip().splitlines()[0]}")
    try:
        import envs
    except ImportError as error:
        print(f"RL environments: unavailable ({error})")
    else:
        print("RL environments:")
        for env_id in envs.ENV_IDS:
            print(f"  {env_id}")
    folder = experiments_folder()
    print(f"configs ({folder}):" if folder else "configs: no experiments/ folder found")
    for path in sorted(folder.glob("*.yaml")) if folder else []:
        print(f"  {path.name:<28} {config_title(path)}")
    return 0


def experiments_folder() -> Path | None:
    """``./experiments`` if it exists, else the one next to the installed package."""
    for folder in (Path.cwd() / "experiments", Path(__file__).resolve().parents[1] / "experiments"):
        if folder.is_dir():
            return folder
    return None


def config_title(path: Path) -> str:
    """The first comment line of a config file (its one-line description)."""
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


# --------------------------------------------------------------------------------------------
# metarl bench
# --------------------------------------------------------------------------------------------


def add_bench(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bench", help="benchmark tables (see `metarl bench NAME --help`)"
    )
    parser.add_argument("name", choices=BENCHMARKS, help="which benchmark")
    parser.add_argument("bench_args", nargs=argparse.REMAINDER, help="its own arguments")
    parser.set_defaults(handler=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    try:
        module = importlib.import_module(f"metarl.extras.bench.{args.name}")
    except ImportError as error:
        return fail(f"benchmark {args.name!r} is not available in this install ({error})")
    module.main(args.bench_args)
    return 0


# --------------------------------------------------------------------------------------------
# metarl baseline
# --------------------------------------------------------------------------------------------


def add_baseline(subparsers: Any) -> None:
    from metarl.rl.sb3_baselines import add_baseline as add_rl_baseline

    add_rl_baseline(subparsers)


# --------------------------------------------------------------------------------------------
# metarl toy
# --------------------------------------------------------------------------------------------


def add_curves(subparsers: Any) -> None:
    from metarl.run.curves import add_curves as add_curves_parser

    add_curves_parser(subparsers)


# --------------------------------------------------------------------------------------------
# metarl toy
# --------------------------------------------------------------------------------------------


def add_toy(subparsers: Any) -> None:
    from metarl.extras.toy.explorer import build_parser

    toy = build_parser()
    parser = subparsers.add_parser(
        "toy",
        parents=[toy],
        add_help=False,
        help="render the seed articles' figures and the interactive explorer page",
        description=toy.description,
    )
    parser.set_defaults(handler=run_toy)


def run_toy(args: argparse.Namespace) -> int:
    from metarl.extras.toy.explorer import run_args

    run_args(args)
    return 0


SUBCOMMANDS: list[Callable[[Any], None]] = [
    add_train,
    add_evaluate,
    add_list,
    add_bench,
    add_baseline,
    add_toy,
    add_curves,
]
"""Each function registers one subcommand on the ``metarl`` parser."""
