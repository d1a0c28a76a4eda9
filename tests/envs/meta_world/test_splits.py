import pickle
from collections import Counter

import numpy as np
import pytest

import envs
from envs.meta_world import ML10_TEST, ML10_TRAIN, splits
from envs.meta_world.compat import load_metaworld
from envs.tasks import MetaWorldTask, task_from_json, task_to_json


def test_ml1_splits_are_meta_worlds_own_goals():
    reference = load_metaworld().ML1("push-v3", seed=0)
    ours = splits.benchmark_tasks("ML1", "push-v3")
    for split, theirs in (("train", reference.train_tasks), ("test", reference.test_tasks)):
        assert len(ours[split]) == 50
        for task, their in zip(ours[split], theirs, strict=True):
            assert task.env_name == their.env_name
            np.testing.assert_array_equal(task.rand_vec, pickle.loads(their.data)["rand_vec"])
    assert not set(ours["train"]) & set(ours["test"])


def test_the_disk_cache_gives_back_the_same_tasks(split_cache):
    first = splits.benchmark_tasks("ML1", "reach-v3")
    files = list((split_cache / "metaworld").glob("*ML1-reach-v3-seed0.json"))
    assert len(files) == 1
    assert splits._read(files[0]) == first


def test_an_unreadable_cache_file_is_regenerated(split_cache):
    splits.benchmark_tasks.cache_clear()
    path = splits._cache_file("ML1", "reach-v3")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")
    tasks = splits.benchmark_tasks("ML1", "reach-v3")
    assert len(tasks["train"]) == 50
    assert splits._read(path) == tasks


def test_ml10_round_robin_covers_every_class_and_repeats_no_goal():
    family = envs.task_family("metarl/ML10-v0")
    tasks = family.sample_tasks(23, seed=3)
    counts = Counter(task.env_name for task in tasks)
    assert set(counts) == set(ML10_TRAIN)
    assert sorted(set(counts.values())) == [2, 3]
    assert len(set(tasks)) == 23
    assert family.sample_tasks(23, seed=3) == tasks
    assert family.sample_tasks(23, seed=4) != tasks
    held_out = family.sample_tasks(7, seed=0, split="test")
    assert {task.env_name for task in held_out} == set(ML10_TEST)
    every_test_goal = set(splits.benchmark_tasks("ML10")["test"])
    assert set(held_out) <= every_test_goal


def test_more_tasks_than_goals_reuse_each_goal_evenly():
    tasks = splits.sample_round_robin(
        splits.benchmark_tasks("ML1", "push-v3")["train"], 120, np.random.default_rng(0)
    )
    assert sorted(Counter(tasks).values()) == [2] * 30 + [3] * 20


def test_tasks_round_trip_through_json_and_reject_bad_values():
    task = envs.task_family("metarl/ML1-push-v3-v0").sample_tasks(1, seed=0)[0]
    assert task_from_json(task_to_json(task)) == task
    with pytest.raises(ValueError, match="did you mean 'push-v3'"):
        MetaWorldTask("psh-v3", task.rand_vec)
    with pytest.raises(ValueError, match="rand_vec"):
        MetaWorldTask("push-v3", (0.0, float("nan")))
    with pytest.raises(TypeError, match="sample_tasks"):
        MetaWorldTask.sample(1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="split"):
        envs.task_family("metarl/ML1-push-v3-v0").sample_tasks(1, seed=0, split="val")
