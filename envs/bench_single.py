"""Steps per second of each family, one env made with ``gymnasium.make``, random actions.

Usage: ``python -m envs.bench_single [--seconds 3] [--oracle]``. Prints a Markdown table. Resets
(on termination or truncation) are counted in the time but not as steps.
"""

from __future__ import annotations

import argparse
import platform
import time

import gymnasium
import numpy as np

import envs


def steps_per_second(env_id: str, seconds: float, seed: int = 0) -> tuple[float, int]:
    """Random-action steps per second of ``gymnasium.make(env_id)`` and the episodes begun."""
    env = gymnasium.make(env_id)
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(1024)]
    env.reset(seed=seed)
    steps, episodes = 0, 1
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(100):
            _, _, terminated, truncated, _ = env.step(actions[steps % len(actions)])
            steps += 1
            if terminated or truncated:
                env.reset()
                episodes += 1
    env.close()
    return steps / elapsed, episodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per family")
    parser.add_argument("--oracle", action="store_true", help="also time the oracle variants")
    args = parser.parse_args()

    ids = [envs.env_id(family) for family in envs.FAMILIES]
    if args.oracle:
        ids += [envs.env_id(family, oracle=True) for family in envs.FAMILIES]
    print(f"single env via gymnasium.make, random actions, {args.seconds:g} s each")
    print(f"{platform.processor() or platform.machine()}, numpy {np.__version__}\n")
    print("| id | steps/s | episodes |")
    print("|---|---:|---:|")
    for env_id in ids:
        rate, episodes = steps_per_second(env_id, args.seconds)
        print(f"| `{env_id}` | {rate:,.0f} | {episodes} |", flush=True)


if __name__ == "__main__":
    main()
