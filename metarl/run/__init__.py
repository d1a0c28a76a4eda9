"""Run machinery: configs, the training loop, checkpoints, logging, distributed runs, the CLI."""
