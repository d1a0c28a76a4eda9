"""Train a config eagerly from initial parameters perturbed at float32 rounding level.

The control for the README's compiled-vs-eager sinusoid table: a compiled meta-step rounds
differently from the eager one (1e-7 relative in float32), and over 70,000 iterations any such
difference grows into a different trained model. Multiplying every initial parameter by
``1 + scale * N(0, 1)`` (``scale`` 1e-7 by default) gives the same kind of difference with the
eager step, so the spread between the two runs is what rounding alone does.

python tools/rounding_control.py experiments/sinusoid_maml.yaml RUN_DIR [--scale 1e-7]
    [--set key=value ...]
"""

from __future__ import annotations

import argparse

import torch

from metarl.run.config import load_config
from metarl.run.trainer import make_trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="a config file, as for metarl train")
    parser.add_argument("run_dir", help="the run folder to write (as metarl train writes)")
    parser.add_argument("--scale", type=float, default=1e-7, help="relative perturbation")
    parser.add_argument("--perturbation-seed", type=int, default=99)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    config = load_config(args.config, ["compile=off", *args.set])
    trainer = make_trainer(config, args.run_dir)
    generator = torch.Generator().manual_seed(args.perturbation_seed)
    with torch.no_grad():
        for param in trainer.learner.parameters():
            noise = torch.randn(param.shape, generator=generator, dtype=param.dtype)
            param.mul_(1 + args.scale * noise.to(param.device))
    print(trainer.experiment.summary(trainer.train()))


if __name__ == "__main__":
    main()
