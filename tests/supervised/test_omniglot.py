import shutil

import pytest
import torch
from PIL import Image

from metarl.supervised.tasks import (
    DataLayoutError,
    OmniglotConfig,
    OmniglotTasks,
    load_omniglot,
    make_task_distribution,
    write_synthetic_omniglot,
)


def distribution(root, split="train", **kwargs):
    config = OmniglotConfig(data_root=str(root), **{"train_characters": 8, "query": 3, **kwargs})
    return make_task_distribution("omniglot", config, split, "cpu", torch.float32)


def test_synthetic_data_set_has_the_omniglot_layout(omniglot):
    alphabets = sorted(p.name for p in omniglot.root.iterdir())
    assert alphabets == [f"Alphabet_{a:02d}" for a in range(omniglot.alphabets)]
    images = sorted(omniglot.root.glob("*/*/*.png"))
    assert len(images) == omniglot.characters * omniglot.drawers
    with Image.open(images[0]) as image:
        assert image.mode == "1" and image.size == (32, 32)


def test_images_are_loaded_once_resized_and_inverted(omniglot):
    data = load_omniglot(str(omniglot.root.resolve()))
    assert load_omniglot(str(omniglot.root.resolve())) is data
    total = omniglot.characters * omniglot.drawers
    assert data.images.shape == (total, 28, 28) and data.images.dtype == torch.uint8
    assert data.counts.tolist() == [omniglot.drawers] * omniglot.characters
    assert list(data.characters) == sorted(data.characters)
    # Strokes (black in the files) become bright, the white background becomes 0.
    assert data.images.float().mean() < 0.3 * 255 and data.images.max() == 255


@pytest.mark.parametrize("rotations", [True, False])
def test_task_shapes_labels_and_classes(omniglot, rotations):
    tasks = distribution(omniglot.root, ways=3, shots=2, query=3, rotations=rotations)
    assert tasks.num_classes == 8 * (4 if rotations else 1)
    assert tasks.loss == "cross_entropy" and tasks.output_dim == 3
    batch = tasks.sample(5, torch.Generator().manual_seed(0))
    assert batch["support_x"].shape == (5, 6, 1, 28, 28)
    assert batch["query_x"].shape == (5, 9, 1, 28, 28)
    assert batch["support_y"].dtype == torch.long
    assert batch["support_y"][0].tolist() == [0, 0, 1, 1, 2, 2]
    assert batch["query_y"][0].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert batch["support_x"].min() >= 0.0 and batch["support_x"].max() <= 1.0
    for classes in batch["classes"]:
        assert len(set(classes.tolist())) == 3  # ways distinct classes per task
    if not rotations:
        assert batch["classes"].max() < 8


def test_images_come_from_their_class_rotated_without_replacement(omniglot):
    tasks = distribution(omniglot.root, ways=4, shots=2, query=4)
    data = load_omniglot(str(omniglot.root.resolve()))
    drawers = omniglot.drawers
    batch = tasks.sample(6, torch.Generator().manual_seed(1))
    images = torch.cat([batch["support_x"], batch["query_x"]], dim=1)[:, :, 0]
    labels = torch.cat([batch["support_y"], batch["query_y"]], dim=1)
    for t in range(6):
        for label in range(4):
            cls = int(batch["classes"][t, label])
            character, rotation = divmod(cls, 4)
            own = data.images[character * drawers : (character + 1) * drawers]
            candidates = own.rot90(rotation, dims=(-2, -1)).float() / 255
            picked = images[t][labels[t] == label]  # (shots + query, 28, 28)
            matches = (picked[:, None] == candidates[None]).flatten(2).all(-1)  # (6, drawers)
            assert (matches.sum(1) == 1).all(), "every image is one of its class's images"
            assert len(set(matches.float().argmax(1).tolist())) == 6, "no image drawn twice"


def test_sampling_is_deterministic_for_a_seed(omniglot):
    tasks = distribution(omniglot.root)
    first = tasks.sample(4, torch.Generator().manual_seed(7))
    again = tasks.sample(4, torch.Generator().manual_seed(7))
    other = tasks.sample(4, torch.Generator().manual_seed(8))
    for key in first:
        assert torch.equal(first[key], again[key])
    assert not torch.equal(first["support_x"], other["support_x"])


def test_train_and_test_split_characters_in_sorted_order(omniglot):
    train, test = distribution(omniglot.root), distribution(omniglot.root, "test")
    names = load_omniglot(str(omniglot.root.resolve())).characters
    assert train.characters == names[:8] and test.characters == names[8:]
    assert test.num_classes == (omniglot.characters - 8) * 4
    batch = test.sample(2, torch.Generator(), support=3)
    assert batch["support_x"].shape == (2, 15, 1, 28, 28)


def test_support_override_beyond_available_images_fails(omniglot):
    tasks = distribution(omniglot.root, query=2)
    with pytest.raises(ValueError, match="exceeds the 6 images"):
        tasks.sample(1, torch.Generator(), support=5)


def layout_error(root, match, **kwargs):
    with pytest.raises(DataLayoutError, match=match) as error:
        distribution(root, **kwargs)
    return str(error.value)


def test_missing_root_names_layout_and_source(tmp_path):
    message = layout_error(tmp_path / "nowhere", "does not exist")
    assert "<root>/<alphabet>/<character>/<image>.png" in message
    assert "https://github.com/brendenlake/omniglot" in message
    assert "images_background.zip" in message


def test_empty_data_root_is_rejected():
    with pytest.raises(DataLayoutError, match="data_root is empty"):
        OmniglotTasks(OmniglotConfig(), "train")


def test_root_that_is_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    layout_error(tmp_path / "file", "is not a folder")


def test_root_without_alphabets(tmp_path):
    layout_error(tmp_path, "contains no alphabet folders")


def test_alphabet_without_characters(tmp_path):
    (tmp_path / "Alphabet").mkdir()
    layout_error(tmp_path, "contains no character folders")


def test_character_without_png(tmp_path):
    (tmp_path / "Alphabet" / "character01").mkdir(parents=True)
    (tmp_path / "Alphabet" / "character01" / "notes.txt").write_text("x")
    layout_error(tmp_path, "contains no .png images")


def test_root_one_level_too_high(tmp_path, omniglot):
    shutil.copytree(omniglot.root, tmp_path / "images_background")
    layout_error(tmp_path, "one level too high")


def test_fewer_classes_than_ways(omniglot):
    layout_error(
        omniglot.root,
        "fewer than task.omniglot.ways=9",
        train_characters=2,
        rotations=False,
        ways=9,
    )


def test_fewer_images_than_shots_plus_query(omniglot):
    layout_error(omniglot.root, "has 6 images, fewer than", shots=2, query=5)


def test_no_test_characters_left(omniglot):
    total = omniglot.characters
    with pytest.raises(DataLayoutError, match=f"must be below {total}"):
        distribution(omniglot.root, "test", train_characters=total)
    with pytest.raises(DataLayoutError, match=f"must be below {total}"):
        distribution(omniglot.root, "train", train_characters=total + 1)


def test_unreadable_png(tmp_path):
    write_synthetic_omniglot(tmp_path, 1, 2, 2, torch.Generator(), image_size=28)
    next(tmp_path.glob("*/*/*.png")).write_bytes(b"not a png")
    layout_error(tmp_path, "cannot read image", train_characters=1)


@pytest.mark.parametrize("field", ["ways", "shots", "query", "train_characters"])
def test_config_rejects_non_positive_counts(field):
    with pytest.raises(ValueError, match=f"task.omniglot.{field} must be >= 1"):
        OmniglotConfig(**{field: 0})
