"""Import Meta-World under the project's MuJoCo, with the one fix it needs, or fail clearly.

Meta-World 3.1.1 pins ``mujoco==3.3.0``; this project needs MuJoCo >= 3.17 (``mujoco.batch``), so
the package is installed without its dependencies (README: ``pip install --no-deps
metaworld==3.1.1`` after ``pip install -e ".[metaworld]"``). Under MuJoCo 3.17 and later one
thing breaks: every environment's constructor calls ``SawyerMocapBase.reset_mocap_welds``, which
writes an 11-entry row into ``model.eq_data``, whose rows grew to 12 entries ("could not broadcast
input array from shape (11,) into shape (12,)"). The first 11 entries of a weld row mean what they
always meant (anchor, relative pose, torque scale), so :func:`load_metaworld` replaces the method
with one that writes those 11 and leaves the rest as compiled. The fix applies to Meta-World's
class only, once, and is checked: if Meta-World's method or MuJoCo's row layout ever change under
it, the import fails with one message naming both installed versions.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
from types import ModuleType
from typing import Any

import mujoco
import numpy as np

TESTED_VERSION = "3.1.1"
"""The Meta-World release this layer was written and tested against."""

INSTALL_COMMAND = 'pip install -e ".[metaworld]" && pip install --no-deps metaworld==3.1.1'
"""How to install Meta-World without letting it downgrade MuJoCo (README, Meta-World)."""

WELD_ROW = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 5.0])
"""What Meta-World writes into each mocap weld's ``eq_data`` row (its ``reset_mocap_welds``)."""


class MetaWorldUnavailable(ImportError):
    """Meta-World is not installed, or not in a form this layer can run."""


def versions() -> str:
    """``metaworld X, mujoco Y`` as installed."""
    try:
        metaworld_version = importlib.metadata.version("metaworld")
    except importlib.metadata.PackageNotFoundError:
        metaworld_version = "not installed"
    return f"metaworld {metaworld_version}, mujoco {mujoco.__version__}"


def _reset_mocap_welds(self: Any) -> None:
    """Meta-World's ``SawyerMocapBase.reset_mocap_welds`` for any ``eq_data`` row width >= 11."""
    model = self.model
    if model.nmocap > 0 and model.eq_data is not None:
        welds = model.eq_type == mujoco.mjtEq.mjEQ_WELD
        model.eq_data[welds, : WELD_ROW.size] = WELD_ROW


def _constants(function: Any) -> tuple[Any, ...]:
    """The literal constants of ``function``'s code (a list literal of floats is one tuple)."""
    code = getattr(function, "__code__", None)
    return tuple(code.co_consts) if code is not None else ()


@functools.cache
def load_metaworld() -> ModuleType:
    """The ``metaworld`` module, with the ``eq_data`` fix applied; raises
    :class:`MetaWorldUnavailable` with the install command if it is missing."""
    try:
        metaworld = importlib.import_module("metaworld")
        sawyer = importlib.import_module("metaworld.sawyer_xyz_env")
    except ModuleNotFoundError as error:
        if error.name is not None and error.name.split(".")[0] not in ("metaworld", "scipy"):
            raise
        raise MetaWorldUnavailable(
            f"the Meta-World environments need the metaworld package ({error.name} is missing); "
            f"install it with: {INSTALL_COMMAND}"
        ) from None
    base = getattr(sawyer, "SawyerMocapBase", None)
    original = getattr(base, "reset_mocap_welds", None)
    if original is None:
        raise MetaWorldUnavailable(
            "Meta-World's internals changed: metaworld.sawyer_xyz_env.SawyerMocapBase."
            f"reset_mocap_welds is gone ({versions()}; this layer was tested with metaworld "
            f"{TESTED_VERSION}); install metaworld=={TESTED_VERSION} with --no-deps"
        )
    if original is not _reset_mocap_welds and tuple(WELD_ROW) not in _constants(original):
        raise MetaWorldUnavailable(
            "Meta-World's internals changed: SawyerMocapBase.reset_mocap_welds no longer writes "
            f"the weld row {WELD_ROW.tolist()} ({versions()}; this layer was tested with "
            f"metaworld {TESTED_VERSION}); install metaworld=={TESTED_VERSION} with --no-deps"
        )
    width = mujoco.MjModel.from_xml_string(
        "<mujoco><worldbody><body name='a' mocap='true'/><body name='b'><freejoint/>"
        "<geom size='.1'/></body></worldbody><equality><weld body1='a' body2='b'/></equality>"
        "</mujoco>"
    ).eq_data.shape[1]
    if width < WELD_ROW.size:
        raise MetaWorldUnavailable(
            f"MuJoCo's eq_data rows have {width} entries, fewer than the {WELD_ROW.size} "
            f"Meta-World writes ({versions()}); this layer was tested with metaworld "
            f"{TESTED_VERSION} and eq_data rows of 11 or 12 entries"
        )
    if original is not _reset_mocap_welds:
        base.reset_mocap_welds = _reset_mocap_welds  # type: ignore[union-attr]
    return metaworld
