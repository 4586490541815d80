"""The one feature path (handful.backbones.features): fused names, decoding once, the cache it shares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from handful.backbones import cache, features
from handful.data import load
from handful.data.dataset import Example


def _counting_decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    decoded: list[str] = []
    real = cache.decode_example

    def counting(example: Example, modality: str) -> Any:
        decoded.append(example.digest)
        return real(example, modality)

    monkeypatch.setattr(cache, "decode_example", counting)
    return decoded


def test_fused_names_split_and_join() -> None:
    name = "efficientnet-lite0+colour-thumbnail"
    assert features.parts_of(name) == ["efficientnet-lite0", "colour-thumbnail"]
    assert features.fuse(features.parts_of(name)) == name
    assert features.is_fused(name) and not features.is_fused("efficientnet-lite0")


def test_fused_features_are_the_parts_side_by_side(image_folder: Path, tmp_path: Path) -> None:
    examples = load(image_folder).train.examples
    fused = features.embed("tiny-image+colour-thumbnail", examples, tmp_path)
    parts = [features.embed(p, examples, tmp_path) for p in ("tiny-image", "colour-thumbnail")]
    np.testing.assert_array_equal(fused, np.hstack(parts))


def test_each_example_is_decoded_once_for_all_backbones(image_folder: Path, monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    examples = load(image_folder).train.examples
    decoded = _counting_decodes(monkeypatch)
    found = features.embed_all(["tiny-image", "colour-thumbnail", "tiny-image+colour-thumbnail"], examples, False)
    assert sorted(decoded) == sorted(e.digest for e in examples)
    assert [found[n].shape for n in found] == [(len(examples), 32), (len(examples), 128), (len(examples), 160)]


def test_cached_features_are_read_back_without_decoding(image_folder: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    examples = load(image_folder).train.examples
    first = cache.embed(features.encoder("tiny-image"), examples, tmp_path)  # the cache's own format
    decoded = _counting_decodes(monkeypatch)
    again = features.embed("tiny-image", examples, tmp_path)
    assert decoded == []
    np.testing.assert_array_equal(again, first)


def test_no_cache_writes_nothing(image_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDFUL_CACHE_DIR", str(tmp_path / "default"))
    features.embed("tiny-image", load(image_folder).train.examples, False)
    assert features.cache_root(False) is None and not (tmp_path / "default").exists()


def test_an_encoder_sent_to_another_process_embeds_the_same() -> None:
    import pickle

    sent = pickle.loads(pickle.dumps(features.encoder("tiny-text")))
    np.testing.assert_array_equal(sent.embed(["a handful"]), features.encoder("tiny-text").embed(["a handful"]))
