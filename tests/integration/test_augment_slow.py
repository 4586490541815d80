"""Augmentation tests that take seconds each: no switched-off transform is ever applied (40 views of each, every
modality), and the MLP's mixup and label smoothing learn and round-trip. Moved from tests/unit/test_augment.py
(issue 11: tests/unit under 60 s of CPU)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from handful import augment as aug
from handful.augment import Augmentation, view_generator
from tests.unit.test_augment import MODULES, _clip, _photo


@pytest.mark.parametrize("modality", ["image", "text", "audio"])
def test_a_disabled_transform_is_never_applied(modality: str, monkeypatch: pytest.MonkeyPatch) -> None:
    value: Any = {"image": _photo(), "text": "a great film. not bad at all!", "audio": _clip()}[modality]
    module = MODULES[modality]
    for name in aug.TRANSFORMS[modality]:
        def refuse(*args: Any, _name: str = name) -> Any:
            raise AssertionError(f"{_name} was applied although it is switched off")

        with monkeypatch.context() as patch:
            patch.setitem(module.TRANSFORMS, name, refuse)
            if modality == "text" and name == "reorder":
                patch.setattr(module, "reorder", refuse)
            setting = Augmentation("strong", frozenset({name}), 4)
            for view in range(40):
                aug.augment(value, modality, setting, view_generator(0, "digest", view))


@pytest.mark.parametrize("cosine", [False, True])
def test_mlp_mixup_and_label_smoothing_options_learn_and_round_trip(cosine: bool) -> None:
    from handful.learners.mlp import MLPHead

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 20)
    features = rng.normal(size=(60, 16)) + 3.0 * np.eye(3, 16)[y]
    head = MLPHead(mixup=0.4, label_smoothing=0.1, cosine=cosine, max_epochs=40).fit(features, y, 3, 0)
    plain = MLPHead(cosine=cosine, max_epochs=40).fit(features, y, 3, 0)
    assert np.mean(head.predict_proba(features).argmax(axis=1) == y) > 0.9
    assert not np.allclose(head.predict_proba(features), plain.predict_proba(features))
    params, tensors = head.state()
    assert params["mixup"] == 0.4 and params["label_smoothing"] == 0.1
    np.testing.assert_allclose(MLPHead.from_state(params, tensors).predict_proba(features),
                               head.predict_proba(features))
