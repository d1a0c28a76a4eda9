"""The names of the files in a run folder (kept apart so the CLI can name them without torch)."""

CHECKPOINT_NAME = "checkpoint.pt"
CONFIG_NAME = "config.yaml"
EVALUATION_STEM = "evaluation"
