import importlib

import mujoco
import numpy as np
import pytest

from envs.meta_world import compat


@pytest.fixture
def fresh_load():
    compat.load_metaworld.cache_clear()
    yield compat.load_metaworld
    compat.load_metaworld.cache_clear()
    compat.load_metaworld()


def test_the_fix_writes_the_weld_rows_and_keeps_the_rest():
    metaworld = compat.load_metaworld()
    env = metaworld.env_dict.ALL_V3_ENVIRONMENTS["push-v3"]()
    welds = env.model.eq_type == mujoco.mjtEq.mjEQ_WELD
    assert welds.any()
    env.model.eq_data[welds] = 7.0
    env.reset_mocap_welds()
    rows = env.model.eq_data[welds]
    np.testing.assert_array_equal(
        rows[:, : compat.WELD_ROW.size], np.tile(compat.WELD_ROW, (len(rows), 1))
    )
    np.testing.assert_array_equal(rows[:, compat.WELD_ROW.size :], 7.0)


def test_a_changed_meta_world_method_fails_with_both_versions(fresh_load, monkeypatch):
    sawyer = importlib.import_module("metaworld.sawyer_xyz_env")
    with (
        monkeypatch.context() as patch,
        pytest.raises(compat.MetaWorldUnavailable, match="internals changed") as error,
    ):
        patch.setattr(sawyer.SawyerMocapBase, "reset_mocap_welds", lambda self: None)
        fresh_load()
    assert f"mujoco {mujoco.__version__}" in str(error.value)
    assert "metaworld 3.1.1" in str(error.value)


def test_missing_meta_world_names_the_install_command(fresh_load, monkeypatch):
    real = importlib.import_module

    def without_metaworld(name, *args):
        if name.startswith("metaworld"):
            raise ModuleNotFoundError(f"No module named {name!r}", name="metaworld")
        return real(name, *args)

    with monkeypatch.context() as patch, pytest.raises(compat.MetaWorldUnavailable) as error:
        patch.setattr(compat.importlib, "import_module", without_metaworld)
        fresh_load()
    assert compat.INSTALL_COMMAND in str(error.value)
