"""N-way K-shot image classification on Omniglot (Lake et al., 2015), as in MAML section 5.2.

The data set is read from a local folder in the layout of the published Omniglot images,
``<root>/<alphabet>/<character>/<image>.png`` (nothing is downloaded). Every image is converted to
grayscale, resized to 28x28 with Lanczos resampling and inverted so that strokes are 1 and the
background is 0 (as the MAML reference code does); all images are kept in memory as one uint8
tensor, loaded once per process and folder.

Split: characters are ordered by ``alphabet/character`` name; the first ``train_characters``
form the meta-training classes and the rest the meta-test classes (the MAML convention is 1200
of the 1623 characters for training). With ``rotations``, each character rotated by 0, 90, 180
and 270 degrees is a class of its own (Santoro et al., 2016; MAML), which quadruples the classes
of both splits.

A task picks ``ways`` classes and ``shots + query`` images of each, all without replacement; the
classes are picked in random order and labelled 0 .. ways-1 in that order, so the class-to-label
assignment is a fresh random permutation for every task.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from metarl.core.problem import TaskBatch

IMAGE_SIZE = 28
ROTATIONS = 4

LAYOUT_HINT = (
    "expected <root>/<alphabet>/<character>/<image>.png as in the Omniglot data set published "
    "at https://github.com/brendenlake/omniglot (images_background.zip and "
    "images_evaluation.zip, unzipped into one folder)"
)


class DataLayoutError(ValueError):
    """The data folder is missing or not in the expected layout (the message says how to fix it)."""


@dataclass(frozen=True)
class OmniglotConfig:
    """N-way K-shot Omniglot classification (defaults: 5-way 1-shot, as in MAML)."""

    data_root: str = ""
    """Folder holding ``<alphabet>/<character>/<image>.png`` (the CLI's ``--data-root``)."""
    ways: int = 5
    """Classes per task, N."""
    shots: int = 1
    """Support images per class, K."""
    query: int = 15
    """Query images per class."""
    train_characters: int = 1200
    """Characters (in sorted order) used for meta-training; the rest are the test classes."""
    rotations: bool = True
    """Treat each character rotated by 0/90/180/270 degrees as a separate class."""

    def __post_init__(self) -> None:
        for name in ("ways", "shots", "query", "train_characters"):
            if getattr(self, name) < 1:
                raise ValueError(f"task.omniglot.{name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class OmniglotImages:
    """Every image of a data folder, grouped by character.

    Attributes:
        images: (N, 28, 28) uint8, strokes 255 and background 0.
        offsets: (C,) index in ``images`` of each character's first image.
        counts: (C,) number of images of each character.
        characters: ``alphabet/character`` name of each character, sorted.
    """

    images: Tensor
    offsets: Tensor
    counts: Tensor
    characters: tuple[str, ...]


def _character_folders(root: Path) -> list[tuple[str, list[Path]]]:
    """List ``(alphabet/character, sorted png paths)``, checking the layout on the way."""
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise DataLayoutError(f"--data-root {root} {what}; {LAYOUT_HINT}")
    alphabets = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not alphabets:
        raise DataLayoutError(f"--data-root {root} contains no alphabet folders; {LAYOUT_HINT}")
    folders = []
    for alphabet in alphabets:
        characters = sorted(p for p in alphabet.iterdir() if p.is_dir())
        if not characters:
            raise DataLayoutError(
                f"alphabet folder {alphabet} contains no character folders; {LAYOUT_HINT}"
            )
        for character in characters:
            images = sorted(character.glob("*.png"))
            if not images:
                hint = ""
                if any(p.is_dir() for p in character.iterdir()):
                    hint = (
                        " but holds folders: --data-root is one level too high (point it at "
                        "the folder whose subfolders are the alphabets)"
                    )
                raise DataLayoutError(
                    f"character folder {character} contains no .png images{hint}; {LAYOUT_HINT}"
                )
            folders.append((f"{alphabet.name}/{character.name}", images))
    return folders


def _read_image(path: Path) -> np.ndarray:
    """A (28, 28) uint8 array with strokes 255 (Omniglot PNGs draw black strokes on white)."""
    try:
        with Image.open(path) as image:
            gray = image.convert("L")
    except OSError as error:
        raise DataLayoutError(f"cannot read image {path}: {error}") from error
    if gray.size != (IMAGE_SIZE, IMAGE_SIZE):
        gray = gray.resize((IMAGE_SIZE, IMAGE_SIZE), resample=Image.Resampling.LANCZOS)
    return 255 - np.asarray(gray, dtype=np.uint8)


@functools.lru_cache(maxsize=2)
def load_omniglot(root: str) -> OmniglotImages:
    """Read and cache every image under ``root`` (the train and test splits share one load)."""
    folders = _character_folders(Path(root).expanduser())
    arrays = [_read_image(path) for _, paths in folders for path in paths]
    counts = torch.tensor([len(paths) for _, paths in folders])
    offsets = torch.cumsum(counts, 0) - counts
    images = torch.from_numpy(np.stack(arrays))
    return OmniglotImages(images, offsets, counts, tuple(name for name, _ in folders))


class OmniglotTasks:
    """Samples N-way K-shot tasks from one split of an Omniglot-layout folder.

    The split's images live on ``device`` as uint8, in all four rotations (4 x 784 bytes per image,
    about 100 MB for the full data set); a meta-batch is assembled there with one batched gather
    and converted to ``dtype`` in [0, 1].
    """

    loss: Literal["cross_entropy"] = "cross_entropy"
    input_shape: tuple[int, ...] = (1, IMAGE_SIZE, IMAGE_SIZE)

    def __init__(
        self,
        config: OmniglotConfig,
        split: Literal["train", "test"],
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if not config.data_root:
            raise DataLayoutError(
                f"task.omniglot.data_root is empty; pass --data-root with {LAYOUT_HINT}"
            )
        data = load_omniglot(str(Path(config.data_root).expanduser().resolve()))
        total = len(data.characters)
        if config.train_characters > total or (
            split == "test" and config.train_characters == total
        ):
            raise DataLayoutError(
                f"task.omniglot.train_characters={config.train_characters} but {config.data_root} "
                f"has {total} characters; it must be below {total} to leave test characters"
            )
        if split == "train":
            chosen = range(config.train_characters)
        else:
            chosen = range(config.train_characters, total)
        self.config = config
        self.split = split
        self.device = torch.device(device)
        self.dtype = dtype
        self.characters = data.characters[chosen.start : chosen.stop]
        self.rotations = ROTATIONS if config.rotations else 1
        self.num_classes = len(self.characters) * self.rotations
        self.output_dim = config.ways
        if self.num_classes < config.ways:
            raise DataLayoutError(
                f"the {split} split of {config.data_root} has {self.num_classes} classes "
                f"({len(self.characters)} characters x {self.rotations} rotations), fewer than "
                f"task.omniglot.ways={config.ways}"
            )
        counts = data.counts[chosen.start : chosen.stop]
        # Kept as Python ints so that sampling never reads a device tensor back to the host.
        self.min_count, self.max_count = int(counts.min()), int(counts.max())
        if self.min_count < config.shots + config.query:
            name = self.characters[int(counts.argmin())]
            raise DataLayoutError(
                f"character {name} has {self.min_count} images, fewer than task.omniglot.shots "
                f"+ task.omniglot.query = {config.shots + config.query}"
            )
        first = int(data.offsets[chosen.start])
        last = int(data.offsets[chosen.stop - 1] + data.counts[chosen.stop - 1])
        # Every image in every rotation, made once: (rotations, N_split, 28, 28) uint8.
        images = data.images[first:last]
        turns = range(self.rotations)
        self.images = torch.stack([images.rot90(k, dims=(-2, -1)) for k in turns]).to(self.device)
        self.offsets = (data.offsets[chosen.start : chosen.stop] - first).to(self.device)
        self.counts = counts.to(self.device)

    def sample(
        self, num_tasks: int, generator: torch.Generator, *, support: int | None = None
    ) -> TaskBatch:
        """Draw ``num_tasks`` N-way tasks; ``support`` overrides the shots per class.

        Returns:
            ``support_x`` (T, N*K, 1, 28, 28) in [0, 1] with strokes 1; ``support_y`` (T, N*K)
            long in 0 .. N-1; ``query_x`` (T, N*Q, 1, 28, 28); ``query_y`` (T, N*Q); ``classes``
            (T, N), the split's class index (character * rotations + rotation) of each label.
        """
        cfg = self.config
        shots = cfg.shots if support is None else support
        if num_tasks < 1:
            raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
        if shots < 1:
            raise ValueError(f"support (shots per class) must be >= 1, got {shots}")
        per_class = shots + cfg.query
        if per_class > self.min_count:
            raise ValueError(
                f"shots + query = {per_class} exceeds the {self.min_count} images of the "
                f"smallest character in the {self.split} split"
            )

        def rand(*shape: int) -> Tensor:
            draw = torch.rand(shape, generator=generator, device=generator.device)
            return draw.to(self.device)

        # Sorting uniform keys gives a uniformly random order: classes without replacement.
        classes = rand(num_tasks, self.num_classes).argsort(dim=1)[:, : cfg.ways]  # (T, N)
        character = classes // self.rotations
        rotation = classes % self.rotations
        # Images without replacement within each class; keys past a class's count sort last.
        counts = self.counts[character]  # (T, N)
        keys = rand(num_tasks, cfg.ways, self.max_count)
        positions = torch.arange(keys.shape[-1], device=self.device)
        keys = torch.where(positions < counts[..., None], keys, 2.0)
        picks = keys.argsort(dim=-1)[..., :per_class]  # (T, N, K + Q)
        index = self.offsets[character][..., None] + picks  # (T, N, K + Q)
        images = self.images[rotation[..., None].expand_as(index), index]  # (T, N, K+Q, 28, 28)
        images = images.to(self.dtype).div_(255.0).unsqueeze(3)  # (T, N, K+Q, 1, 28, 28)
        labels = torch.arange(cfg.ways, device=self.device)[None, :, None]

        def flatten(part: Tensor) -> Tensor:
            return part.reshape(num_tasks, -1, *part.shape[3:])

        return {
            "support_x": flatten(images[:, :, :shots]),
            "support_y": flatten(labels.expand(num_tasks, cfg.ways, shots)),
            "query_x": flatten(images[:, :, shots:]),
            "query_y": flatten(labels.expand(num_tasks, cfg.ways, cfg.query)),
            "classes": classes,
        }


def write_synthetic_omniglot(
    root: str | Path,
    alphabets: int,
    characters_per_alphabet: int,
    drawers: int,
    generator: torch.Generator,
    *,
    image_size: int = 105,
) -> Path:
    """Write a small data set in the Omniglot layout, for tests and examples.

    Each character is a few random polyline strokes; each drawer redraws it with jittered
    points, so images of one character look alike and characters differ (a learnable, if easy,
    stand-in for the real images). Files are black-on-white 1-bit PNGs, like Omniglot's.

    Returns:
        ``root``, holding ``Alphabet_XX/characterYY/ZZZZ_DD.png``.
    """
    root = Path(root)

    def uniform(*shape: int) -> np.ndarray:
        return torch.rand(shape, generator=generator, dtype=torch.float64).numpy()

    width = max(1, image_size // 15)
    character_id = 0
    for a in range(alphabets):
        for c in range(characters_per_alphabet):
            character_id += 1
            folder = root / f"Alphabet_{a:02d}" / f"character{c + 1:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            strokes = 0.15 + 0.7 * uniform(3, 3, 2)  # (strokes, points, xy) in [0.15, 0.85]
            for d in range(drawers):
                jittered = strokes + 0.04 * (uniform(*strokes.shape) - 0.5)
                image = Image.new("1", (image_size, image_size), 1)
                draw = ImageDraw.Draw(image)
                for stroke in jittered * (image_size - 1):
                    draw.line([tuple(point) for point in stroke], fill=0, width=width)
                image.save(folder / f"{character_id:04d}_{d + 1:02d}.png")
    return root
