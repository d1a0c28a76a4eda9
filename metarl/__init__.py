"""metarl: the MAML family on one functional core, for supervised and reinforcement learning.

Data flow: task distribution -> sampler -> inner-loop adaptation (:mod:`metarl.core.adaptation`) ->
meta-objective (:mod:`metarl.core.algorithms`) -> outer optimizer -> logger.
"""

__version__ = "0.1.0"
