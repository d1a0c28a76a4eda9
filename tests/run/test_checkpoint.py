"""Checkpoints: atomic writes, weights-only loading, and clear errors for bad files."""

from __future__ import annotations

import os

import pytest
import torch

from metarl.run.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def state(value: float) -> dict:
    generator = torch.Generator().manual_seed(3)
    return {
        "iteration": 4,
        "weights": {"w": torch.full((3,), value)},
        "optimizer": {"state": {0: {"step": torch.tensor(4.0)}}, "param_groups": [{"lr": 1e-3}]},
        "task_generator": generator.get_state(),
        "config": {"kind": "supervised", "hidden": [40, 40], "clip": None},
    }


def test_round_trip_with_weights_only(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, state(1.0))
    loaded = load_checkpoint(path)
    assert loaded.keys() == state(1.0).keys()
    assert torch.equal(loaded["weights"]["w"], torch.ones(3))
    assert loaded["config"] == state(1.0)["config"]
    # The file itself loads with the safe unpickler, as the issue requires.
    assert torch.load(path, weights_only=True)["iteration"] == 4


def test_crash_during_rename_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, state(1.0))

    def crash(src, dst):
        raise OSError("killed mid-write")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="killed mid-write"):
        save_checkpoint(path, state(2.0))
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path)["weights"]["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temporary file left


def test_crash_during_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, state(1.0))
    real_save = torch.save

    def partial_save(obj, file):
        file.write(b"PK\x03\x04 truncated")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", partial_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, state(2.0))
    monkeypatch.setattr(torch, "save", real_save)
    assert torch.equal(load_checkpoint(path)["weights"]["w"], torch.ones(3))


def test_leftover_temporary_file_does_not_matter(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, state(1.0))
    (tmp_path / ".checkpoint.pt.abc.tmp").write_bytes(b"half a checkpoint")
    save_checkpoint(path, state(2.0))
    assert torch.equal(load_checkpoint(path)["weights"]["w"], torch.full((3,), 2.0))


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, state(1.0))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="is corrupt or truncated"):
        load_checkpoint(path)


def test_missing_and_foreign_files_are_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "checkpoint.pt")
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.ones(2)}, foreign)
    with pytest.raises(CheckpointError, match="is not a metarl checkpoint"):
        load_checkpoint(foreign)
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(CheckpointError, match="is corrupt or truncated"):
        load_checkpoint(tmp_path / "text.pt")


@pytest.mark.parametrize("payload", [os.system, object()], ids=["callable", "object"])
def test_pickled_code_is_refused_without_torchs_hint(tmp_path, payload):
    path = tmp_path / "checkpoint.pt"
    torch.save({"metarl_checkpoint": 1, "payload": payload}, path)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    message = str(error.value)
    assert "contains objects other than tensors and plain data" in message
    assert "will not be loaded" in message
    for wrong in ("corrupt", "weights_only", "likely succeed"):
        assert wrong not in message


def test_garbage_bytes_are_corrupt_without_torchs_hint(tmp_path):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"garbage bytes \x00\x01")
    with pytest.raises(CheckpointError, match="is corrupt or truncated") as error:
        load_checkpoint(path)
    assert "weights_only" not in str(error.value)
    assert "likely succeed" not in str(error.value)
