"""ONNX export of real models (EfficientNet-Lite0/Lite2 on ants/bees photos, MiniLM on SST-2), checked end to end."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import handful
from tests.conftest import shared
from tests.integration.test_real_backbones import small_copy

pytestmark = pytest.mark.slow
pytest.importorskip("onnxruntime", reason="ONNX export needs the export extra: pip install -e '.[export]'")
pytest.importorskip("onnxscript", reason="ONNX export needs the export extra: pip install -e '.[export]'")

from handful.export import export_onnx  # noqa: E402

RUNNER = Path(__file__).resolve().parents[2] / "examples" / "onnx_runner.py"


def _runner_proba(sidecar: Path, inputs: list[object]) -> tuple[list[str], np.ndarray]:
    spec = importlib.util.spec_from_file_location("onnx_runner", RUNNER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.predict_proba(sidecar, inputs)  # type: ignore[no-any-return]


@pytest.mark.parametrize("backbone", ["efficientnet-lite0", "efficientnet-lite2"])
def test_lite_model_on_real_photos_exports_with_parity(backbone: str, tmp_path: Path) -> None:
    photos = small_copy(shared("images", "ants_bees", "train"), tmp_path / "photos", per_class=8, pattern="*.jpg")
    clf = handful.Classifier(backbone=backbone, learners="linear", random_state=0, verbose=0, n_jobs=1,
                             cache_dir=False).fit(photos)
    clf.save(tmp_path / "model")
    val = shared("images", "ants_bees", "val")
    # Photos of assorted shapes, and the placeholder GIF (a palette image) from the training split.
    samples = sorted((val / "ants").glob("*.jpg"))[:4] + sorted((val / "bees").glob("*.jpg"))[:4]
    samples.append(shared("images", "ants_bees", "train", "ants", "imageNotFound.gif"))
    result = export_onnx(tmp_path / "model", tmp_path / "photos.onnx", samples=samples)
    print(f"{backbone}: parity {result.max_abs_diff:.2e} on {result.n_checked} photos, "
          f"{result.bytes / 1e6:.1f} MB, {result.seconds:.1f} s")
    assert result.n_checked == 9 and result.max_abs_diff < 1e-4
    meta = json.loads(result.sidecar.read_text(encoding="utf-8"))
    size = 224 if backbone == "efficientnet-lite0" else 260
    assert meta["inputs"][0]["shape"] == ["batch", 3, size, size]

    classes, probabilities = _runner_proba(result.sidecar, samples)
    expected = clf.predict_proba(samples)
    assert np.abs(probabilities - expected).max() < 1e-4
    assert [classes[i] for i in probabilities.argmax(axis=1)] == list(clf.predict(samples))


def test_minilm_model_exports_with_its_tokenizer(tmp_path: Path) -> None:
    rows = list(csv.DictReader(shared("text", "sst2", "train.csv").open(encoding="utf-8")))
    rng = np.random.default_rng(0)
    picked = [r for label in ("0", "1") for r in rng.permutation([r for r in rows if r["label"] == label])[:16]]
    clf = handful.Classifier(backbone="minilm-l6", learners="linear", random_state=0, verbose=0, n_jobs=1,
                             cache_dir=False).fit([r["text"] for r in picked],
                                                  ["neg" if r["label"] == "0" else "pos" for r in picked])
    clf.save(tmp_path / "model")
    dev = [r["text"] for r in csv.DictReader(shared("text", "sst2", "dev.csv").open(encoding="utf-8"))][:12]
    dev.append("word " * 400)  # over the 256-token limit: truncated the same way on both sides
    result = export_onnx(tmp_path / "model", tmp_path / "reviews.onnx", samples=dev)
    print(f"minilm-l6: parity {result.max_abs_diff:.2e} on {result.n_checked} texts, "
          f"{result.bytes / 1e6:.1f} MB, {result.seconds:.1f} s")
    assert result.max_abs_diff < 1e-4
    assert sorted(p.name for p in result.files) == ["reviews.onnx", "reviews.onnx.json", "reviews.onnx.tokenizer.json"]
    classes, probabilities = _runner_proba(result.sidecar, dev)
    assert np.abs(probabilities - clf.predict_proba(dev)).max() < 1e-4
    assert [classes[i] for i in probabilities.argmax(axis=1)] == list(clf.predict(dev))
