"""Augmentation: transforms keep type, size, range and rate; views stay in their example's fold; settings parse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from handful import augment as aug
from handful import selection
from handful.augment import Augmentation, parse_augment, view_generator
from handful.augment import audio as audio_transforms
from handful.augment import image as image_transforms
from handful.augment import text as text_transforms
from handful.backbones.cache import embed_views
from handful.backbones.registry import get_backbone
from handful.data import from_inputs
from handful.data.decode import Audio
from tests.conftest import NEGATIVE, POSITIVE

MODULES = {"image": image_transforms, "text": text_transforms, "audio": audio_transforms}


def _photo(width: int = 40, height: int = 30) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), mode="RGB")


def _clip(rate: int = 8000) -> Audio:
    t = np.arange(int(0.4 * rate)) / rate
    return Audio((0.9 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate)


@pytest.mark.parametrize("strength", aug.STRENGTHS)
@pytest.mark.parametrize("name", aug.TRANSFORMS["image"])
def test_image_transform_keeps_size_mode_and_uint8(name: str, strength: str) -> None:
    photo = _photo()
    for seed in range(5):
        out = image_transforms.TRANSFORMS[name](photo, np.random.default_rng(seed), strength)
        assert out.size == photo.size and out.mode == "RGB"
        assert np.asarray(out).dtype == np.uint8


@pytest.mark.parametrize("strength", aug.STRENGTHS)
@pytest.mark.parametrize("name", aug.TRANSFORMS["audio"])
def test_audio_transform_keeps_rate_type_and_range(name: str, strength: str) -> None:
    for rate in (8000, 16000):
        clip = _clip(rate)
        for seed in range(3):
            out = audio_transforms.TRANSFORMS[name](clip, np.random.default_rng(seed), strength)
            assert isinstance(out, Audio) and out.sample_rate == rate
            assert out.samples.dtype == np.float32 and out.samples.ndim == 1 and len(out.samples) > 0
            assert np.isfinite(out.samples).all() and np.abs(out.samples).max() <= 1.0
            if name != "stretch":
                assert len(out.samples) == len(clip.samples)


def test_audio_transforms_handle_a_very_short_clip() -> None:
    short = Audio(np.full(50, 0.5, dtype=np.float32), 8000)
    for name, transform in audio_transforms.TRANSFORMS.items():
        out = transform(short, np.random.default_rng(0), "strong")
        assert out.sample_rate == 8000 and len(out.samples) > 0, name


def test_noise_is_added_at_the_chosen_snr() -> None:
    clip = _clip()
    out = audio_transforms.noise(clip, np.random.default_rng(1), "strong")
    residual = out.samples - clip.samples
    snr = 20 * np.log10(np.sqrt(np.mean(clip.samples**2)) / np.sqrt(np.mean(residual**2)))
    low, high = audio_transforms.SNR_DB["strong"]
    assert low - 0.5 <= snr <= high + 0.5


def test_background_clips_are_mixed_in_at_the_chosen_snr() -> None:
    clip = _clip()
    hum = Audio((0.3 * np.sin(2 * np.pi * 60 * np.arange(4000) / 16000)).astype(np.float32), 16000)  # other rate
    found = 0
    for seed in range(12):
        out = audio_transforms.noise(clip, np.random.default_rng(seed), "strong", [hum])
        residual = (out.samples - clip.samples).astype(np.float64)
        snr = 20 * np.log10(np.sqrt(np.mean(clip.samples**2)) / np.sqrt(np.mean(residual**2)))
        assert 5 - 0.5 <= snr <= 15 + 0.5 and out.sample_rate == clip.sample_rate
        spectrum = np.abs(np.fft.rfft(residual))
        found += int(np.argmax(spectrum) * clip.sample_rate / len(residual) < 100)  # the 60 Hz hum, not hiss
    assert 4 <= found <= 11  # two times in three a background clip, otherwise white or pink noise


def test_background_setting_reads_a_folder_and_its_content_is_in_the_key(tmp_path: Path) -> None:
    import soundfile

    folder = tmp_path / "pool"
    folder.mkdir()
    soundfile.write(folder / "street.wav", np.full(800, 0.1, dtype=np.float32), 8000)
    (folder / "notes.txt").write_text("not a sound")
    setting = parse_augment(f"medium,background={folder}")
    assert setting is not None and setting.background == str(folder.resolve())
    assert [c.sample_rate for c in setting.backgrounds()] == [8000]
    assert setting.describe("audio")["background"] == str(folder.resolve())
    soundfile.write(folder / "cafe.wav", np.full(800, -0.2, dtype=np.float32), 8000)
    assert parse_augment(f"medium,background={folder}").key() != setting.key()
    assert setting.key() != Augmentation("medium").key()
    with pytest.raises(ValueError, match="background clips mix noise into sounds, but the data is image"):
        setting.validate("image")
    with pytest.raises(ValueError, match=r"cannot use .*missing for background clips"):
        parse_augment(f"background={tmp_path / 'missing'}")


def test_views_of_sounds_use_the_background_clips(tmp_path: Path) -> None:
    import soundfile

    from handful.data import load

    write_tones_folder = tmp_path / "tones"
    from tests.conftest import write_tones

    write_tones(write_tones_folder, per_class=2)
    pool = tmp_path / "pool"
    pool.mkdir()
    soundfile.write(pool / "hum.wav", (0.5 * np.sin(np.arange(8000) / 8000 * 2 * np.pi * 60)).astype(np.float32),
                    8000)
    data = load(write_tones_folder).train
    plain = Augmentation("strong", frozenset(), 2)
    mixed = parse_augment(f"strong,views=2,background={pool}")
    assert mixed is not None
    backbone = get_backbone("tiny-audio")
    without, _ = embed_views(backbone, data.examples, plain, 0, None)
    with_clips, _ = embed_views(backbone, data.examples, mixed, 0, None)
    assert without.shape == with_clips.shape and not np.allclose(without, with_clips)


@pytest.mark.parametrize("name", aug.TRANSFORMS["text"])
def test_text_transform_gives_a_non_empty_string_and_keeps_negations(name: str) -> None:
    sentence = "The movie is not good. The acting was great and the story was boring!"
    for seed in range(20):
        out = text_transforms.TRANSFORMS[name](sentence, np.random.default_rng(seed), "strong")
        assert isinstance(out, str) and out.strip()
        assert "not" in out.split()


def test_synonym_replacement_uses_the_packaged_list_and_keeps_case() -> None:
    outs = {text_transforms.synonym("Movie night", np.random.default_rng(s), "light") for s in range(20)}
    assert outs - {"Movie night"}
    assert all(o.split()[0][0].isupper() and o.endswith("night") for o in outs)


def test_reorder_shuffles_sentences_and_leaves_one_sentence_alone() -> None:
    text = "First one. Second one! Third one?"
    outs = {text_transforms.reorder(text, np.random.default_rng(s), "medium") for s in range(20)}
    assert len(outs) > 1 and all(sorted(o.split(" ")) == sorted(text.split(" ")) for o in outs)
    assert text_transforms.reorder("Only one sentence here", np.random.default_rng(0), "strong") == (
        "Only one sentence here")


def test_no_flip_keeps_a_left_right_asymmetric_image_the_right_way_round() -> None:
    pixels = np.zeros((48, 64, 3), dtype=np.uint8)
    pixels[:, 32:] = 255  # dark left, bright right
    photo = Image.fromarray(pixels, mode="RGB")

    def flipped(setting: Augmentation) -> int:
        count = 0
        for view in range(150):
            out = np.asarray(aug.augment(photo, "image", setting, view_generator(3, "asym", view)), dtype=float)
            count += out[:, :32].mean() > out[:, 32:].mean()
        return count

    assert flipped(parse_augment("strong,no-flip")) == 0  # type: ignore[arg-type]
    assert flipped(parse_augment("strong")) > 20  # type: ignore[arg-type]


def test_views_are_reproducible_distinct_and_independent_of_order(tmp_path: Path) -> None:
    texts = POSITIVE[:3] + NEGATIVE[:3]
    data = from_inputs(texts, ["pos"] * 3 + ["neg"] * 3, "text")
    setting = Augmentation("medium", frozenset(), 3)
    backbone = get_backbone("tiny-text")
    first, owner = embed_views(backbone, data.examples, setting, 7, None)
    again, _ = embed_views(backbone, data.examples, setting, 7, tmp_path)
    cached, _ = embed_views(backbone, data.examples, setting, 7, tmp_path)
    reversed_rows, reversed_owner = embed_views(backbone, data.examples[::-1], setting, 7, None)
    other_seed, _ = embed_views(backbone, data.examples, setting, 8, None)
    assert first.shape == (18, backbone.spec.dim) and owner.tolist() == np.repeat(np.arange(6), 3).tolist()
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, cached)
    np.testing.assert_array_equal(first[:3], reversed_rows[-3:])
    assert reversed_owner.tolist() == owner.tolist()
    np.testing.assert_array_equal(first, other_seed)  # views depend on content, settings and index: not the seed
    assert len({row.tobytes() for row in first}) > 12  # views differ from one another


def test_a_new_seed_or_more_views_embed_no_view_again(tmp_path: Path) -> None:
    texts = POSITIVE[:3] + NEGATIVE[:3]
    data = from_inputs(texts, ["pos"] * 3 + ["neg"] * 3, "text")
    backbone = get_backbone("tiny-text")
    calls: list[int] = []
    real = backbone.embed

    def counting(batch: list[object]) -> np.ndarray:
        calls.append(len(batch))
        return real(batch)  # type: ignore[arg-type]

    backbone.embed = counting  # type: ignore[method-assign]
    four, _ = embed_views(backbone, data.examples, Augmentation("medium", frozenset(), 4), 1, tmp_path)
    assert sum(calls) == 24
    embed_views(backbone, data.examples, Augmentation("medium", frozenset(), 4), 2, tmp_path)
    assert sum(calls) == 24  # another seed: every view from the cache
    two, _ = embed_views(backbone, data.examples, Augmentation("medium", frozenset(), 2), 3, tmp_path)
    assert sum(calls) == 24 and np.array_equal(two, four.reshape(6, 4, -1)[:, :2].reshape(12, -1))
    embed_views(backbone, data.examples, Augmentation("strong", frozenset(), 2), 3, tmp_path)
    assert sum(calls) == 36  # other transform settings are other views


def test_views_keep_their_examples_labels() -> None:
    features = np.arange(4, dtype=float)[:, None]
    y = np.array([0, 1, 0, 1])
    owner = np.repeat(np.arange(4), 2)
    stacked, labels = selection.with_views(features, y, np.array([1, 2]), (features[owner], owner))
    assert stacked[:, 0].tolist() == [1, 2, 1, 1, 2, 2] and labels.tolist() == [1, 0, 1, 1, 0, 0]


class _Recorder:
    """A learner that remembers which examples (by the id written in column 0) each fold trained on."""

    seen: list[set[int]] = []

    def __init__(self, name: str, scaling: str, *tuning: object) -> None:  # backbone, time budget, verbose
        pass

    def fit(self, features: Any, y: np.ndarray, n_classes: int, seed: int) -> _Recorder:
        _Recorder.seen.append({int(v) for v in np.asarray(features)[:, 0]})
        self.n_classes = n_classes
        return self

    def adapt(self, target: Any) -> None:
        pass

    def predict_proba(self, features: Any) -> np.ndarray:
        return np.full((len(features), self.n_classes), 1.0 / self.n_classes)


def test_no_augmented_view_of_a_test_example_is_ever_trained_on(monkeypatch: pytest.MonkeyPatch) -> None:
    n, views = 20, 3
    y = np.array([0, 1] * (n // 2))
    features = np.column_stack([np.arange(n), np.zeros(n)]).astype(float)
    owner = np.repeat(np.arange(n), views)
    view_features = np.column_stack([owner, np.ones(len(owner))]).astype(float)  # a view carries its owner's id
    folds = selection.make_folds(y, 5, 2, seed=0)
    monkeypatch.setattr(selection.folds, "make_learner", _Recorder)
    _Recorder.seen = []
    candidate = selection.Candidate("tiny-image", "linear", "l2", "test", augment="light-3views-v1")
    selection.cross_validate(candidate, features, y, 2, folds, 0, views=(view_features, owner))
    assert len(_Recorder.seen) == len(folds)
    for (train, test), trained in zip(folds, _Recorder.seen, strict=True):
        assert trained == set(train.tolist())
        assert not trained & set(test.tolist())
        assert not set(owner[selection.view_rows(train, owner)].tolist()) & set(test.tolist())
        assert len(selection.view_rows(train, owner)) == views * len(train)


def test_parse_augment_reads_words_and_files(tmp_path: Path) -> None:
    assert parse_augment("off") is None
    assert parse_augment("medium") == Augmentation("medium", frozenset(), aug.DEFAULT_VIEWS)
    assert parse_augment("no-flip,no-rotate,views=6") == Augmentation("light", frozenset({"flip", "rotate"}), 6)
    (tmp_path / "a.json").write_text(json.dumps({"strength": "strong", "disabled": ["flip"], "views": 2}))
    (tmp_path / "a.toml").write_text('[augment]\nstrength = "medium"\ndisabled = ["pitch"]\n')
    (tmp_path / "off.toml").write_text("off = true\n")
    assert parse_augment(tmp_path / "a.json") == Augmentation("strong", frozenset({"flip"}), 2)
    assert parse_augment(str(tmp_path / "a.toml")) == Augmentation("medium", frozenset({"pitch"}), 4)
    assert parse_augment(tmp_path / "off.toml") is None
    assert parse_augment("light").key() != parse_augment("light,no-flip").key()  # type: ignore[union-attr]


def test_parse_augment_errors_name_the_valid_choices() -> None:
    with pytest.raises(ValueError, match="Unknown transform 'flipp'.*Did you mean 'flip'"):
        parse_augment("no-flipp")
    with pytest.raises(ValueError, match="Unknown augment setting 'mediun'.*Did you mean 'medium'"):
        parse_augment("mediun")
    with pytest.raises(ValueError, match=r"'heavy'. Did you mean 'strong'\? Give a strength \(light, medium, strong\) "
                                         r"or off; views=N; .* no-NAME .* one of blur, colour, crop"):
        parse_augment("heavy,views=4")
    with pytest.raises(ValueError, match="views must be a whole number from 1 to 32"):
        parse_augment("views=0")
    with pytest.raises(ValueError, match="Unknown text transform 'flip'"):
        parse_augment("no-flip").validate("text")  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="every text transform is switched off"):
        parse_augment("no-synonym,no-insert,no-delete,no-swap,no-reorder").validate("text")  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="does not exist"):
        parse_augment("missing.toml")


def test_score_cache_keys_differ_with_augmentation(tmp_path: Path) -> None:
    cache = selection.ScoreCache(tmp_path, "context")
    plain = selection.Candidate("tiny-image", "linear", "l2", "test")
    assert cache.key(plain) != cache.key(selection.Candidate("tiny-image", "linear", "l2", "test", "light-4views-v1"))
    assert plain.augment == "" and "augment" in selection.Result(plain).row()


