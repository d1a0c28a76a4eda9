"""Start-up time of the ``metarl`` command: help, listing and a usage error against bare Python.

Each command runs in a fresh interpreter (``sys.executable``, the current folder first on
``sys.path`` as with ``python -m``); a row is the best of ``--repeats`` interleaved rounds, so a
busy machine slows every row alike, and the ratio column divides by ``python -c pass`` measured in
the same rounds. The heavy libraries (torch, Gymnasium, MuJoCo, TensorBoard, matplotlib, SB3) stay
unimported until a command needs them; ``python -X importtime -m metarl --help`` shows what is
imported. Run: ``metarl bench startup [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

COMMANDS: dict[str, list[str]] = {
    "python -c pass": ["-c", "pass"],
    "metarl --help": ["-m", "metarl", "--help"],
    "metarl list": ["-m", "metarl", "list"],
    "metarl train --help": ["-m", "metarl", "train", "--help"],
    "metarl train (usage error)": ["-m", "metarl", "train", "--set"],
    "metarl bench --help": ["-m", "metarl", "bench", "--help"],
}
"""Row label -> the interpreter's arguments; the first row is the reference."""


def seconds(arguments: list[str]) -> float:
    """Wall-clock seconds of one ``python ARGUMENTS`` run, its output discarded."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, *arguments],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return time.perf_counter() - started


def measure(repeats: int) -> dict[str, float]:
    """Best seconds of each command over ``repeats`` rounds that run every command once."""
    best = dict.fromkeys(COMMANDS, float("inf"))
    for _ in range(repeats):
        for label, arguments in COMMANDS.items():
            best[label] = min(best[label], seconds(arguments))
    return best


def table(best: dict[str, float]) -> str:
    """The Markdown table: seconds and the ratio to ``python -c pass``."""
    reference = best["python -c pass"]
    lines = ["| command | seconds (best) | x python -c pass |", "|---|---:|---:|"]
    lines += [f"| `{label}` | {t:.3f} | {t / reference:.1f} |" for label, t in best.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``metarl bench startup``."""
    parser = argparse.ArgumentParser(
        prog="metarl bench startup", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--repeats", type=int, default=5, help="rounds; each row keeps its best")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    print(table(measure(args.repeats)))


if __name__ == "__main__":
    main()
