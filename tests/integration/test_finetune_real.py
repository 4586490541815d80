"""Fine-tuning with the real pretrained trunks and tails on real photos, sentences and clips."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from handful.backbones.registry import get_backbone, get_tail
from handful.data.decode import load_audio, load_image
from handful.learners import learner_from_state
from handful.learners.finetune import FineTune
from tests.conftest import shared

pytestmark = pytest.mark.slow


def photos(per_class: int) -> tuple[list[object], np.ndarray]:
    root = shared("images", "ants_bees", "train")
    files = [f for label in ("ants", "bees") for f in sorted((root / label).glob("*.jpg"))[:per_class]]
    return [load_image(f) for f in files], np.repeat([0, 1], per_class)


def sentences(per_class: int) -> tuple[list[str], np.ndarray]:
    with shared("text", "sst2", "train.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    chosen = [r for label in ("0", "1") for r in [r for r in rows if r["label"] == label][:per_class]]
    return [r["text"] for r in chosen], np.asarray([int(r["label"]) for r in chosen])


def frozen_and_tuned(name: str, batch: list[object]) -> tuple[np.ndarray, np.ndarray]:
    rows = get_backbone(f"{name}:trunk").embed(batch)
    with torch.no_grad():
        tuned = get_tail(f"{name}:trunk").eval()(torch.from_numpy(rows)).numpy()
    return get_backbone(name).embed(batch), tuned


@pytest.mark.parametrize("name", ["efficientnet-lite0", "efficientnet-lite2"])
def test_image_tail_on_trunk_rows_gives_the_frozen_embedding(name: str) -> None:
    frozen, tuned = frozen_and_tuned(name, photos(2)[0])
    assert np.allclose(tuned, frozen, atol=1e-4)


def test_lite0_embedded_with_its_trunk_in_one_pass_matches_its_own_pass(tmp_path: Path) -> None:
    from handful.backbones.cache import embed_many
    from handful.data import load

    examples = load(shared("images", "ants_bees", "train")).train.examples[:6]
    frozen, rows = embed_many([get_backbone("efficientnet-lite0"), get_backbone("efficientnet-lite0:trunk")],
                              examples, tmp_path)
    assert rows.shape == (6, 192 * 7 * 7)
    np.testing.assert_allclose(frozen, embed_many([get_backbone("efficientnet-lite0")], examples)[0], atol=1e-4)


def test_minilm_tail_on_trunk_rows_gives_the_frozen_embedding() -> None:
    frozen, tuned = frozen_and_tuned("minilm-l6", list(sentences(2)[0]))
    tuned /= np.linalg.norm(tuned, axis=1, keepdims=True)  # the sentence encoder L2-normalises its output
    assert np.allclose(tuned, frozen, atol=1e-4)


def test_logmel_tail_on_trunk_rows_gives_the_frozen_embedding() -> None:
    clips = [load_audio(f) for f in sorted(shared("audio", "spoken_digits", "3").glob("*.wav"))[:2]]
    frozen, tuned = frozen_and_tuned("logmel-efficientnet-lite0", clips)  # clips under 5 s: one image each
    assert np.allclose(tuned, frozen, atol=1e-4)


def test_fine_tuning_lite0_on_twelve_real_photos_lowers_the_training_loss() -> None:
    images, y = photos(6)
    rows = get_backbone("efficientnet-lite0:trunk").embed(images)
    head = FineTune(backbone="efficientnet-lite0:trunk", blind_epochs=5, batch_size=6).fit(rows, y, 2, 0)
    losses = [record["train_loss"] for record in head.history_]
    assert len(losses) == 5 and losses[-1] < losses[0]
    assert np.mean(head.predict_proba(rows).argmax(axis=1) == y) == 1.0
    params, tensors = head.state()
    assert np.array_equal(learner_from_state("finetune", params, tensors).predict_proba(rows),
                          head.predict_proba(rows))


def test_setfit_on_sixteen_real_sentences_pulls_pairs_together_and_repeats(tmp_path: Path) -> None:
    texts, y = sentences(8)
    rows = get_backbone("minilm-l6:trunk").embed(texts)
    head = FineTune(backbone="minilm-l6:trunk").fit(rows, y, 2, 0)
    losses = [record["train_loss"] for record in head.history_]
    assert head.recipe == "setfit" and len(losses) == 20 and np.mean(losses[-3:]) < np.mean(losses[:3])
    again = FineTune(backbone="minilm-l6:trunk").fit(rows, y, 2, 0)
    assert np.array_equal(again.predict_proba(rows), head.predict_proba(rows))
    params, tensors = head.state()
    assert np.array_equal(learner_from_state("finetune", params, tensors).predict_proba(rows),
                          head.predict_proba(rows))
