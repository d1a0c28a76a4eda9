"""Record, and compare, the numbers of five reference runs: the refactoring safety net.

    python tools/behaviour_check.py record OUT.pt      # runs the five commands, saves their numbers
    python tools/behaviour_check.py compare A.pt B.pt  # equal to the bit, or the first differences

Each run is ``metarl train CONFIG --set ...`` into a fresh folder; what is kept is every
TensorBoard scalar except ``perf/*`` (tag -> list of (step, value)) and the final checkpoint's
learner parameters. Two records are equal when every scalar and every parameter is identical.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

RUNS: dict[str, list[str]] = {
    "sinusoid_maml": ["experiments/sinusoid_maml.yaml", "--set", "iterations=300"],
    "sinusoid_imaml": ["experiments/sinusoid_imaml.yaml", "--set", "iterations=300"],
    "navigation2d_trpo": ["experiments/navigation2d_maml_trpo.yaml", "--set", "iterations=3"],
    "navigation2d_ppo": [
        "experiments/navigation2d_maml_trpo.yaml",
        "--set",
        "iterations=3",
        "--set",
        "outer=ppo",
    ],
    "halfcheetah_vel_trpo": [
        "experiments/halfcheetah_vel_maml_trpo.yaml",
        "--set",
        "iterations=2",
    ],
}
"""Run name -> ``metarl train`` arguments (the issue's five reference commands)."""


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of the run's event files but ``perf/*``, by tag."""
    accumulator = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    return {
        tag: [(event.step, event.value) for event in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
        if not tag.startswith("perf/")
    }


def record(out: Path, names: list[str]) -> None:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            run_dir = Path(tmp) / name
            command = [
                sys.executable,
                "-m",
                "metarl",
                "train",
                *RUNS[name],
                "--run-dir",
                str(run_dir),
                "--set",
                "logging.progress=false",
            ]
            print("$", " ".join(command[1:]), flush=True)
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
            results[name] = {"scalars": scalars(run_dir), "params": state["learner"]}
    torch.save(results, out)
    print(f"recorded {len(results)} runs into {out}")


def compare(a_path: Path, b_path: Path) -> int:
    a, b = torch.load(a_path, weights_only=True), torch.load(b_path, weights_only=True)
    problems = []
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            problems.append(f"{name}: only in one record")
            continue
        sa, sb = a[name]["scalars"], b[name]["scalars"]
        for tag in sorted(set(sa) | set(sb)):
            if sa.get(tag) != sb.get(tag):
                problems.append(f"{name}: scalar {tag}: {sa.get(tag)} != {sb.get(tag)}")
        pa, pb = a[name]["params"], b[name]["params"]
        for key in sorted(set(pa) | set(pb)):
            if key not in pa or key not in pb or not torch.equal(pa[key], pb[key]):
                problems.append(f"{name}: parameter {key} differs")
        print(f"{name}: {len(sa)} scalar tags, {len(pa)} parameter tensors compared")
    for line in problems:
        print("DIFF", line)
    print("identical" if not problems else f"{len(problems)} differences")
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("out", type=Path)
    rec.add_argument("--only", nargs="*", choices=sorted(RUNS), default=sorted(RUNS))
    cmp_ = sub.add_parser("compare")
    cmp_.add_argument("a", type=Path)
    cmp_.add_argument("b", type=Path)
    args = parser.parse_args()
    if args.command == "record":
        record(args.out, args.only)
        return 0
    return compare(args.a, args.b)


if __name__ == "__main__":
    raise SystemExit(main())
