"""The Meta-World classes with a vectorised reset, observation and reward: one module each.

Adding a class is one module here (its :class:`envs.meta_world.sawyer.SawyerClass` as ``CLASS``)
and one line below; ``tests/envs/meta_world/test_vector.py`` then holds it to Meta-World's own
environment. Every other class runs as Meta-World's own environments (``envs.meta_world.vector``).
"""

from __future__ import annotations

from envs.meta_world.classes import (
    basketball,
    button_press_topdown,
    door_open,
    drawer_close,
    peg_insert_side,
    pick_place,
    push,
    reach,
    sweep,
    window_open,
)
from envs.meta_world.sawyer import SawyerClass

SAWYER_CLASSES: dict[str, SawyerClass] = {
    "reach-v3": reach.CLASS,
    "sweep-v3": sweep.CLASS,
    "push-v3": push.CLASS,
    "pick-place-v3": pick_place.CLASS,
    "door-open-v3": door_open.CLASS,
    "window-open-v3": window_open.CLASS,
    "drawer-close-v3": drawer_close.CLASS,
    "button-press-topdown-v3": button_press_topdown.CLASS,
    "peg-insert-side-v3": peg_insert_side.CLASS,
    "basketball-v3": basketball.CLASS,
}
"""Meta-World environment name -> its vectorised class."""
