"""The ``metarl`` command: ``train``, ``evaluate``, ``list``, ``bench``, ``baseline``, ``curves``
and ``toy``.

Every mistake in the input (config key or value, task, data folder, checkpoint) is reported as one
``error: ...`` line with exit status 2 before any work starts. To add a subcommand, write an
``add_<name>(subparsers)`` function that registers its parser with ``set_defaults(handler=...)``
(a function ``(args) -> int``) and append a :class:`Subcommand` naming it to :data:`SUBCOMMANDS`.
A command builds only its own parser and imports heavy libraries inside its handler, so help,
``metarl list`` and usage errors answer in a fraction of a second (``metarl bench startup``).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metarl.errors import ConfigError, fail

# Heavy libraries (torch, gymnasium, MuJoCo, TensorBoard, matplotlib, SB3) are imported inside the
# handlers that need them, so that help, `metarl list` and usage errors answer at once.
if TYPE_CHECKING:
    from metarl.run.distributed import DistributedContext
    from metarl.run.trainer import Trainer

RESUMABLE_KEYS = ("iterations", "logging", "evaluation", "task.omniglot.data_root")
"""Keys ``--set`` may change when resuming: none of them changes the training numbers."""

BENCHMARKS: dict[str, str] = {
    "supervised": "meta-iterations/s of 2nd-order MAML on the sinusoid setting (metarl vmap and "
    "task list vs a per-task autograd loop, higher, torchopt) and peak memory of MAML vs iMAML",
    "sampler": "env steps/s of meta-RL sampling per env family: raw MuJoCo physics, the batched "
    "env alone, metarl's MetaSampler, Gymnasium's Sync/AsyncVectorEnv, and a profile",
    "outer": "seconds of the MAML-TRPO outer step at the HalfCheetahVel shape on saved episodes, "
    "the reference against the closed-form Fisher product, by phase, with FLOPs and a profile",
    "startup": "seconds to answer `metarl --help`, `metarl list` and `metarl train --help` "
    "against `python -c pass`, each in a fresh interpreter",
}
"""Benchmark name (module ``metarl.extras.bench.<name>``) -> what its table measures."""

EXIT_NON_FINITE = 1
EXIT_INTERRUPTED = 130
EXIT_DISTRIBUTED = 3

# Errors that mean "the input is wrong", raised while loading and building, before any work
# (ConfigError and CheckpointError are ValueErrors).
INPUT_ERRORS = (ValueError, OSError)


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
    argv = list(sys.argv[1:] if argv is None else argv)
    # The top-level parser takes no option but -h, so the first other word names the subcommand.
    command = next((word for word in argv if not word.startswith("-")), "")
    args = build_parser(only=command).parse_args(argv)
    return args.handler(args)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``metarl`` parser.

    Args:
        only: build just this subcommand's full parser (the others get their one-line entry of
            ``metarl --help``), so that a command imports only the modules its own parser lives
            in; ``None`` builds every subcommand's parser.

    Returns:
        The parser; each subcommand sets ``handler``, a function ``(args) -> exit status``.
    """
    parser = argparse.ArgumentParser(
        prog="metarl", description="Meta-learning (MAML family) for supervised and RL tasks."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for subcommand in SUBCOMMANDS:
        if only is None or only == subcommand.name:
            module_name, _, function = subcommand.add.partition(":")
            getattr(importlib.import_module(module_name), function)(subparsers)
        else:
            subparsers.add_parser(subcommand.name, help=subcommand.help, add_help=False)
    return parser


def check_writable_folder(folder: Path, fix: str) -> None:
    """Fail now, not after the whole setup, if ``folder`` cannot be created or written to.

    The folders missing on the way are created and a temporary file is written, then the folders
    this made are removed again: permission bits alone do not tell (root, read-only mounts,
    ``/proc``).

    Args:
        folder: the folder a command will write into (it may not exist yet).
        fix: how to choose another folder, e.g. ``"pass another --run-dir"``.

    Raises:
        ConfigError: naming the folder, the reason and ``fix``.
    """
    missing: list[Path] = []  # innermost first
    existing = folder.absolute()
    while not existing.exists() and existing != existing.parent:
        missing.append(existing)
        existing = existing.parent
    if not existing.is_dir():
        where = "it" if existing == folder.absolute() else str(existing)
        raise ConfigError(
            f"cannot write the folder {folder}: {where} is a file, not a folder; {fix}"
        )
    created: list[Path] = []
    try:
        for path in reversed(missing):
            try:
                path.mkdir()
            except FileExistsError:  # another torchrun rank made it a moment ago
                continue
            created.append(path)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        raise ConfigError(
            f"cannot write the folder {folder}: {where}{error.strerror or error}; {fix}"
        ) from None
    finally:
        for path in reversed(created):
            with contextlib.suppress(OSError):  # not empty: a torchrun rank already uses it
                path.rmdir()


# --------------------------------------------------------------------------------------------
# metarl train
# --------------------------------------------------------------------------------------------


def add_train(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "train",
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
    """``metarl train``: check the input, then train and print the report."""
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
        from metarl.run.distributed import exit_rank

        exit_rank(code)
    return code


def train_and_report(trainer: Trainer, context: DistributedContext | None) -> int:
    """Train to the end, leave the ``torchrun`` job if in one, and print the report; the exit
    status."""
    from metarl.errors import NonFiniteError
    from metarl.run.distributed import DistributedError, shutdown_distributed
    from metarl.run.files import CHECKPOINT_NAME

    main_rank = context is None or context.is_main
    if main_rank:
        print(f"run directory: {trainer.run_dir}")
        if trainer.config.compile != "off":  # say why the meta-step is (or is not) compiled
            print(trainer.compile_note)
    try:
        curves = trainer.train()
        if context is not None:
            # Leave together: a rank tearing down its process group while rank 0 still
            # evaluates can abort inside gloo. The wait is bounded by --dist-timeout.
            context.barrier()
    # A FloatingPointError outside a training iteration (the held-out evaluation's rollouts)
    # carries the same kind of message as a NonFiniteError.
    except (NonFiniteError, FloatingPointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_NON_FINITE
    except DistributedError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_DISTRIBUTED
    except KeyboardInterrupt:
        if (trainer.run_dir / CHECKPOINT_NAME).exists():
            hint = f"continue with: metarl train --resume {trainer.run_dir}"
        else:
            logging = trainer.config.logging
            hint = (
                f"no checkpoint yet (one is written every {logging.checkpoint_every} iterations "
                f"or {logging.checkpoint_minutes:g} minutes); start again"
            )
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
    import torch.distributed

    from metarl.run.distributed import init_distributed
    from metarl.run.trainer import make_trainer

    context = init_distributed(config.device, args.dist_timeout)
    if not context.is_distributed:
        return make_trainer(config, run_dir)
    shared = [str(run_dir)]
    torch.distributed.broadcast_object_list(shared, src=0)
    return make_trainer(config, Path(shared[0]), context)


def prepare_new_run(args: argparse.Namespace) -> Trainer:
    from metarl.run.config import load_config

    if args.config is None:
        raise ConfigError("pass a CONFIG file to train, or --resume RUN_DIR to continue a run")
    config = load_config(args.config, overrides_of(args))
    # Imported after the config is checked: the trainers pull in TensorBoard and matplotlib.
    from metarl.run.files import CHECKPOINT_NAME

    if args.run_dir:
        run_dir = Path(args.run_dir)
        check_writable_folder(run_dir, "pass another --run-dir")
    else:
        run_dir = new_run_dir(config)
        check_writable_folder(
            run_dir, "set logging.run_root to a writable folder or pass --run-dir"
        )
    if (run_dir / CHECKPOINT_NAME).exists():
        raise ConfigError(
            f"{run_dir} already holds a run; continue it with --resume {run_dir} "
            "or choose another --run-dir"
        )
    return build_trainer(config, run_dir, args)


def prepare_resume(args: argparse.Namespace) -> Trainer:
    from metarl.errors import CheckpointError
    from metarl.run.checkpoint import load_checkpoint
    from metarl.run.config import config_from_dict
    from metarl.run.files import CHECKPOINT_NAME

    if args.config is not None or args.run_dir is not None:
        raise ConfigError(
            "--resume takes the config and folder from the run; pass no CONFIG or --run-dir"
        )
    run_dir = Path(args.resume)
    if not run_dir.is_dir():
        raise ConfigError(f"--resume {run_dir}: no such run folder")
    check_writable_folder(run_dir, "make it writable to resume the run there")
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


def print_report(trainer: Trainer, curves: dict[str, Any], out_dir: Path) -> None:
    from metarl.run.files import EVALUATION_STEM

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
    parser.add_argument(
        "--protocol",
        choices=sorted(PROTOCOLS),
        help="RL: an evaluation protocol from the literature; metaworld = Meta-World's "
        "metalearning_evaluation (200 test tasks: 10 evaluations x 20 envs, 10 adaptation "
        "episodes, 1 step, 3 evaluation episodes); explicit flags still override it",
    )
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


PROTOCOLS: dict[str, tuple[str, ...]] = {
    "metaworld": (
        "evaluation.tasks=200",
        "evaluation.adapt_steps=1",
        "evaluation.episodes_per_task=10",
        "evaluation.final_episodes=3",
    ),
}
"""``metarl evaluate --protocol`` -> its config overrides. ``metaworld`` follows
``metaworld.evaluation.metalearning_evaluation``'s defaults (``num_evals=10`` over a test vector
env of 20, ``adaptation_episodes=10``, ``adaptation_steps=1``, ``evaluation_episodes=3``)."""

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


def check_evaluate_flags(args: argparse.Namespace) -> None:
    """Blame a bad ``metarl evaluate`` flag on the flag, before the config it overrides."""
    if args.tasks is not None and args.tasks < 1:
        raise ConfigError(f"--tasks must be >= 1, got {args.tasks}")
    if args.steps is not None and args.steps < 0:
        raise ConfigError(f"--steps (--adapt-steps) must be >= 0, got {args.steps}")
    if args.support is not None and any(k < 1 for k in args.support):
        raise ConfigError(f"--support sizes must be >= 1, got {' '.join(map(str, args.support))}")
    if args.seed is not None and args.seed < 0:
        raise ConfigError(f"--seed must be >= 0, got {args.seed}")


def run_evaluate(args: argparse.Namespace) -> int:
    """``metarl evaluate``: check the flags and the run, then write the report."""
    run_dir = Path(args.run_dir)
    out_dir = Path(args.out) if args.out else run_dir
    try:
        check_evaluate_flags(args)
        check_writable_folder(out_dir, "pass another --out" if args.out else "pass --out DIR")
        # After the flags: a mistyped flag is answered without loading torch.
        from metarl.run.checkpoint import load_checkpoint
        from metarl.run.config import config_kind, load_config
        from metarl.run.files import CHECKPOINT_NAME, CONFIG_NAME

        if not (run_dir / CONFIG_NAME).is_file():
            raise ConfigError(
                f"{run_dir} has no {CONFIG_NAME}; pass a folder written by metarl train"
            )
        saved = load_config(run_dir / CONFIG_NAME)
        kind = config_kind(saved)
        options = EVALUATE_OPTIONS[kind]
        names = ("tasks", "steps", "support", "seed", "device", "video", "baseline")
        given = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
        unused = sorted(set(given) - set(options))
        if unused:
            raise ConfigError(f"--{unused[0]} does not apply to a {kind} run")
        overrides = [f"{options[name]}={value}" for name, value in given.items()]
        if args.protocol is not None:
            if kind != "rl" or not saved.env.meta_world:
                raise ConfigError(
                    f"--protocol {args.protocol} applies to Meta-World runs (env.id metarl/ML1-*, "
                    "metarl/ML10-v0, metarl/ML45-v0) only"
                )
            overrides = [*PROTOCOLS[args.protocol], *overrides]
        config = load_config(run_dir / CONFIG_NAME, overrides + overrides_of(args))
        from metarl.run.trainer import make_trainer

        trainer = make_trainer(config, run_dir)
        trainer.load_state_dict(load_checkpoint(run_dir / CHECKPOINT_NAME))
    except INPUT_ERRORS as error:
        return fail(str(error))
    try:
        curves = trainer.evaluate_to(out_dir)
    except FloatingPointError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_NON_FINITE
    print_report(trainer, curves, out_dir)
    return 0


# --------------------------------------------------------------------------------------------
# metarl list
# --------------------------------------------------------------------------------------------


ALGORITHM_SUMMARIES: dict[str, str] = {
    "maml": "grad = mean_i prod_j (I - a H_i(phi_j)) grad L_query,i(phi_k)  (exact, 2nd order)",
    "fomaml": "grad = mean_i grad L_query,i(phi_k)  (Hessian terms dropped)",
    "metasgd": "phi = theta - a (*) grad L_support, with a learned per parameter",
    "reptile": "theta <- theta + eps * mean_i (phi_i - theta)",
    "imaml": "grad = mean_i (I + H_i/lambda)^-1 grad L_query,i(phi_i), by CG on H-vector products",
    "hfmaml": "MAML with H v ~ [grad L(phi + d v) - grad L(phi - d v)] / 2d",
}
"""``metarl.core.algorithms.SUMMARIES``, kept here so that ``metarl list`` imports no torch (a
test checks that the two are equal)."""

TASK_FAMILY_TITLES: dict[str, str] = {
    "sinusoid": "The sinusoid task family (defaults: the MAML paper).",
    "linear": "The linear regression task family.",
    "omniglot": "N-way K-shot Omniglot classification (defaults: 5-way 1-shot, as in MAML).",
}
"""``metarl.supervised.tasks.TASK_FAMILIES`` -> the first line of each config class's docstring
(tested equal)."""

ENV_IDS: tuple[str, ...] = tuple(
    f"metarl/{family}{variant}-v0"
    for variant in ("", "Oracle")
    for family in (
        "Navigation2D",
        "HalfCheetahVel",
        "HalfCheetahDir",
        "AntVel",
        "AntDir",
        "AntGoal",
        "HopperRandParams",
        "Walker2dRandParams",
    )
)
"""``envs.ENV_IDS`` in its order, without importing Gymnasium and MuJoCo (tested equal)."""

ENV_NAMES_TEXT = """
    assembly-v3 basketball-v3 bin-picking-v3 box-close-v3 button-press-topdown-v3
    button-press-topdown-wall-v3 button-press-v3 button-press-wall-v3 coffee-button-v3
    coffee-pull-v3 coffee-push-v3 dial-turn-v3 disassemble-v3 door-close-v3 door-lock-v3
    door-open-v3 door-unlock-v3 hand-insert-v3 drawer-close-v3 drawer-open-v3 faucet-open-v3
    faucet-close-v3 hammer-v3 handle-press-side-v3 handle-press-v3 handle-pull-side-v3
    handle-pull-v3 lever-pull-v3 pick-place-wall-v3 pick-out-of-hole-v3 pick-place-v3
    plate-slide-v3 plate-slide-side-v3 plate-slide-back-v3 plate-slide-back-side-v3
    peg-insert-side-v3 peg-unplug-side-v3 soccer-v3 stick-push-v3 stick-pull-v3 push-v3
    push-wall-v3 push-back-v3 reach-v3 reach-wall-v3 shelf-place-v3 sweep-into-v3 sweep-v3
    window-open-v3 window-close-v3
"""
"""``envs.meta_world.ENV_NAMES``, the 50 ML1 choices (tested equal)."""

META_WORLD_IDS: tuple[str, ...] = ("metarl/ML10-v0", "metarl/ML45-v0")
"""The Meta-World benchmarks of ``envs.META_WORLD_IDS`` besides the 50 ML1 ids, which
``metarl list`` shows as one line (tested against ``envs``)."""


def add_list(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "list", description="Algorithms, task families, RL environments and shipped configs."
    )
    parser.set_defaults(handler=run_list)


def run_list(args: argparse.Namespace) -> int:
    """``metarl list``: print every algorithm, task family, env id and shipped config."""
    print("algorithms:")
    print_column(ALGORITHM_SUMMARIES)
    print("supervised task families:")
    print_column(TASK_FAMILY_TITLES)
    print("RL environments:")
    for env_id in ENV_IDS:
        print(f"  {env_id}")
    print("Meta-World environments (pip install the metaworld extra, see the README):")
    print("  metarl/ML1-<name>-v0  ML1: one class, 50 train / 50 test goals; <name> is one of")
    names = ENV_NAMES_TEXT.split()
    for start in range(0, len(names), 6):
        print("      " + " ".join(names[start : start + 6]))
    print("  metarl/ML10-v0        ML10: 10 training classes, 5 held-out test classes")
    print("  metarl/ML45-v0        ML45: 45 training classes, 5 held-out test classes")
    folder = experiments_folder()
    print(f"configs ({folder}):" if folder else "configs: no experiments/ folder found")
    paths = sorted(folder.glob("*.yaml")) if folder else []
    print_column({path.name: config_title(path) for path in paths})
    return 0


def print_column(rows: dict[str, str]) -> None:
    """``name  description`` lines, the descriptions aligned past the longest name."""
    width = max(map(len, rows), default=0)
    for name, description in rows.items():
        print(f"  {name:<{width}}  {description}".rstrip())


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
        "bench",
        description="Print a benchmark table; the reference implementation is measured in the "
        "same process and the table gives ratios to it.",
        epilog="benchmarks:\n"
        + "\n".join(
            textwrap.fill(summary, 100, initial_indent=f"  {name:<11}", subsequent_indent=" " * 13)
            for name, summary in BENCHMARKS.items()
        )
        + "\n\nEach takes its own options: metarl bench NAME --help",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", choices=list(BENCHMARKS), help="which benchmark (see below)")
    parser.add_argument("bench_args", nargs=argparse.REMAINDER, help="its own arguments")
    parser.set_defaults(handler=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    """``metarl bench NAME ...``: run ``metarl.extras.bench.NAME``'s ``main``."""
    try:
        module = importlib.import_module(f"metarl.extras.bench.{args.name}")
    except ImportError as error:
        return fail(f"benchmark {args.name!r} is not available in this install ({error})")
    module.main(args.bench_args)
    return 0


# --------------------------------------------------------------------------------------------
# metarl toy
# --------------------------------------------------------------------------------------------


def add_toy(subparsers: Any) -> None:
    from metarl.extras.toy.explorer import build_parser

    toy = build_parser()
    parser = subparsers.add_parser(
        "toy", parents=[toy], add_help=False, description=toy.description
    )
    parser.set_defaults(handler=run_toy)


def run_toy(args: argparse.Namespace) -> int:
    from metarl.extras.toy.explorer import run_args

    run_args(args)
    return 0


@dataclass(frozen=True)
class Subcommand:
    """One ``metarl`` subcommand."""

    name: str
    help: str
    """Its line in ``metarl --help``."""
    add: str
    """``"module:function"`` that registers its parser with ``set_defaults(handler=...)``,
    imported only when the subcommand is used."""


SUBCOMMANDS: list[Subcommand] = [
    Subcommand("train", "meta-train from a YAML config, or resume a run", f"{__name__}:add_train"),
    Subcommand(
        "evaluate",
        "adaptation curves of a trained run on held-out tasks",
        f"{__name__}:add_evaluate",
    ),
    Subcommand(
        "list",
        "algorithms, task families, RL environments and shipped configs",
        f"{__name__}:add_list",
    ),
    Subcommand("bench", "benchmark tables (see `metarl bench --help`)", f"{__name__}:add_bench"),
    Subcommand(
        "baseline",
        "train an SB3 PPO baseline (pretrained or oracle) for an RL env family",
        "metarl.rl.sb3_baselines:add_baseline",
    ),
    Subcommand(
        "toy",
        "render the seed articles' figures and the interactive explorer page",
        f"{__name__}:add_toy",
    ),
    Subcommand(
        "curves",
        "training curves of runs from their TensorBoard events (table and PNG)",
        "metarl.run.curves:add_curves",
    ),
]
"""The ``metarl`` subcommands, in the order ``metarl --help`` lists them."""
