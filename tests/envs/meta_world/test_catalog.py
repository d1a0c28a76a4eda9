from envs.meta_world import catalog
from envs.meta_world.compat import load_metaworld
from metarl.run import cli


def test_catalog_is_meta_worlds_own_lists():
    env_dict = load_metaworld().env_dict
    assert tuple(env_dict.ALL_V3_ENVIRONMENTS) == catalog.ENV_NAMES
    assert tuple(env_dict.ML10_V3["train"]) == catalog.ML10_TRAIN
    assert tuple(env_dict.ML10_V3["test"]) == catalog.ML10_TEST
    assert sorted(env_dict.ML45_V3["train"]) == sorted(catalog.ML45_TRAIN)
    assert tuple(env_dict.ML45_V3["test"]) == catalog.ML45_TEST
    sawyer = load_metaworld().sawyer_xyz_env.SawyerXYZEnv
    assert sawyer.max_path_length == catalog.MAX_PATH_LENGTH


def test_metarl_list_names_every_meta_world_family():
    import envs

    assert tuple(cli.ENV_NAMES_TEXT.split()) == catalog.ENV_NAMES
    ml1 = {f"metarl/ML1-{name}-v0" for name in catalog.ENV_NAMES}
    assert set(envs.META_WORLD_IDS) == ml1 | set(cli.META_WORLD_IDS)
