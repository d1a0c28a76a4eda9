"""Outer steps: the update of the meta-parameters from a meta-batch (Adam / SGD, TRPO, PPO)."""
