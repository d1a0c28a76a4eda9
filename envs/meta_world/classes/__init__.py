"""The Meta-World classes with a vectorised reset, observation and reward: one module each.

Adding a class is one module here (its :class:`envs.meta_world.sawyer.SawyerClass` as ``CLASS``)
and one line below; ``tests/envs/meta_world/test_vector.py`` then holds it to Meta-World's own
environment. Every other class runs as Meta-World's own environments (``envs.meta_world.vector``).
"""

from __future__ import annotations

from envs.meta_world.classes import (
    pick_place,
    push,
    reach,
)
from envs.meta_world.sawyer import SawyerClass

SAWYER_CLASSES: dict[str, SawyerClass] = {
    "reach-v3": reach.CLASS,
    "push-v3": push.CLASS,
    "pick-place-v3": pick_place.CLASS,
}
"""Meta-World environment name -> its vectorised class."""
