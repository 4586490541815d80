"""Shared fixtures: small real files (PNG/JPEG/GIF images, WAV clips, CSV tables) written per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own feature cache unless it sets one, so tests never see each other's features."""
    if "HANDFUL_TEST_CACHE" in os.environ:
        monkeypatch.setenv("HANDFUL_CACHE_DIR", os.environ["HANDFUL_TEST_CACHE"])
    else:
        monkeypatch.setenv("HANDFUL_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch and one BLAS thread for the test, as handful's own small fits run (the unit suite's default)."""
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(threads)


def shared(*parts: str) -> Path:
    """A path in ../shared/data, or skip the test with the reason when that data is not here."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available (the shared test data sits beside the project checkout)")
    return path


def write_images(folder: Path, per_class: int = 8, seed: int = 0) -> Path:
    """Two visually different classes: warm noisy squares ('red') and cool noisy circles ('blue')."""
    rng = np.random.default_rng(seed)
    for label, colour in (("red", (200, 40, 30)), ("blue", (30, 60, 210))):
        (folder / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            base = np.clip(np.array(colour) + rng.normal(0, 25, (40, 48, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(base).save(folder / label / f"{label}_{i}.png")
    return folder


def write_tones(folder: Path, per_class: int = 6, seed: int = 0, rate: int = 8000) -> Path:
    """Two classes of short clips: low tones and high tones with a little noise."""
    import soundfile

    rng = np.random.default_rng(seed)
    for label, base in (("low", 220.0), ("high", 1760.0)):
        (folder / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            t = np.arange(int(rate * rng.uniform(0.3, 0.8))) / rate
            wave = 0.5 * np.sin(2 * np.pi * base * rng.uniform(0.95, 1.05) * t) + 0.02 * rng.normal(size=t.size)
            soundfile.write(folder / label / f"{label}_{i}.wav", wave.astype(np.float32), rate)
    return folder


POSITIVE = ["a wonderful, moving film", "great acting and a clever plot", "I loved every minute of it",
            "beautiful and funny", "a delight from start to finish", "superb, warm and touching",
            "brilliant performances all round", "the best film this year"]
NEGATIVE = ["a dull, boring mess", "terrible acting and a stupid plot", "I hated every minute of it",
            "ugly and tedious", "a chore from start to finish", "awful, cold and lifeless",
            "wooden performances all round", "the worst film this year"]


def write_csv(path: Path, bom: bool = False, delimiter: str = ",") -> Path:
    rows = [f"text{delimiter}label"] + [f'"{t}"{delimiter}pos' for t in POSITIVE] + [
        f'"{t}"{delimiter}neg' for t in NEGATIVE]
    path.write_text(("\ufeff" if bom else "") + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    return write_images(tmp_path / "photos")


@pytest.fixture
def audio_folder(tmp_path: Path) -> Path:
    return write_tones(tmp_path / "clips")


@pytest.fixture
def text_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "reviews.csv")
