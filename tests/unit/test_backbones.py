"""The backbone registry and the on-disk feature cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from handful.backbones import get_backbone, list_backbones
from handful.backbones.cache import FeatureCache, embed
from handful.data import load
from tests.conftest import write_images


def test_registry_lists_each_modality_with_licences() -> None:
    for modality in ("image", "text", "audio"):
        specs = list_backbones(modality)
        assert {s.kind for s in specs} >= {"pretrained", "baseline", "test"}
        assert all(s.licence and s.description for s in specs)


def test_unknown_backbone_names_the_closest() -> None:
    with pytest.raises(ValueError, match=r"Unknown backbone 'minilm_l6'. Valid: aisfx, .*Did you mean 'minilm-l6'"):
        get_backbone("minilm_l6")


@pytest.mark.parametrize("name", ["tiny-image", "tiny-text", "tiny-audio"])
def test_tiny_backbones_are_deterministic(name: str, image_folder: Path, audio_folder: Path) -> None:
    modality = name.split("-")[1]
    if modality == "text":
        from handful.data import from_texts

        examples = from_texts(["one text", "another"], ["a", "b"]).examples
    else:
        examples = load(image_folder if modality == "image" else audio_folder).train.examples[:4]
    first = embed(get_backbone(name), examples, None)
    again = embed(get_backbone(name), examples, None)
    assert first.shape == (len(examples), 32) and first.dtype == np.float32
    assert np.array_equal(first, again) and np.isfinite(first).all()


class CountingBackbone:
    """Wraps a backbone and counts how many inputs it was asked to embed."""

    def __init__(self, name: str) -> None:
        self.inner = get_backbone(name)
        self.spec = self.inner.spec
        self.batch_size = 4
        self.calls = 0

    def embed(self, batch: list) -> np.ndarray:
        self.calls += len(batch)
        return self.inner.embed(batch)


def test_cache_embeds_once_and_only_new_examples(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "photos", per_class=5)
    examples = load(folder).train.examples
    counter = CountingBackbone("tiny-image")
    first = embed(counter, examples, tmp_path / "cache")  # type: ignore[arg-type]
    assert counter.calls == 10
    second = embed(counter, examples, tmp_path / "cache")  # type: ignore[arg-type]
    assert counter.calls == 10 and np.array_equal(first, second)
    write_images(tmp_path / "more", per_class=6, seed=7)
    grown = examples + load(tmp_path / "more").train.examples
    embed(counter, grown, tmp_path / "cache")  # type: ignore[arg-type]
    assert counter.calls == 10 + 12


def test_damaged_cache_shard_is_ignored(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "photos", per_class=3)
    examples = load(folder).train.examples
    backbone = get_backbone("tiny-image")
    expected = embed(backbone, examples, tmp_path / "cache")
    for shard in (tmp_path / "cache").rglob("*.safetensors"):
        shard.write_bytes(b"\x00" * 10)
    assert np.array_equal(embed(backbone, examples, tmp_path / "cache"), expected)


def test_cache_key_changes_with_version() -> None:
    spec = get_backbone("tiny-text").spec
    assert FeatureCache(Path("/c"), spec.cache_key()).folder.name == "tiny-text-v1-builtin"


def test_lazy_backbone_loads_nothing_when_all_features_are_cached(tmp_path: Path) -> None:
    from handful.backbones.registry import LazyBackbone

    examples = load(write_images(tmp_path / "photos", per_class=3)).train.examples
    expected = embed(get_backbone("tiny-image"), examples, tmp_path / "cache")
    lazy = LazyBackbone("tiny-image")
    assert np.array_equal(embed(lazy, examples, tmp_path / "cache"), expected)
    assert lazy._inner is None
