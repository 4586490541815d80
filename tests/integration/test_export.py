"""ONNX export with the tiny image backbone: parity with handful, the example runner, refusals, atomic writes."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import handful
from handful.cli import app
from tests.conftest import write_images

pytest.importorskip("onnxruntime", reason="ONNX export needs the export extra: pip install -e '.[export]'")
pytest.importorskip("onnxscript", reason="ONNX export needs the export extra: pip install -e '.[export]'")

from handful.export import (  # noqa: E402
    ParityError,
    check_exportable,
    export_onnx,
    head_module,
)

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "examples" / "onnx_runner.py"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("export")
    photos = write_images(root / "photos", per_class=6)
    clf = handful.Classifier(backbone="tiny-image", learners="linear", random_state=0, verbose=0, n_jobs=1,
                             cache_dir=False).fit(photos)
    clf.save(root / "model")
    return root / "model", sorted(photos.rglob("*.png"))


def _runner() -> object:
    spec = importlib.util.spec_from_file_location("onnx_runner", RUNNER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_export_matches_handful_and_the_example_runner_agrees(trained: tuple[Path, list[Path]], tmp_path: Path
                                                               ) -> None:
    model, photos = trained
    result = export_onnx(model, tmp_path / "out" / "photos.onnx", samples=photos[:3] + photos[-3:])
    assert result.path == tmp_path / "out" / "photos.onnx" and result.path.stat().st_size == result.bytes
    assert result.n_checked == 6 and result.max_abs_diff < 1e-4
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["photos.onnx", "photos.onnx.json"]
    meta = json.loads(result.sidecar.read_text(encoding="utf-8"))
    assert meta["classes"] == ["blue", "red"] and meta["onnx"]["file"] == "photos.onnx"
    assert meta["inputs"] == [{"name": "image", "dtype": "float32", "shape": ["batch", 3, 16, 16]}]
    assert meta["preprocessing"]["resize"] == "stretch" and meta["parity"]["max_abs_diff"] == result.max_abs_diff

    clf = handful.load(model)
    clf.cache_dir = False
    pictures = photos[1:4] + photos[-2:]  # five: a batch size the graph was not traced with
    classes, probabilities = _runner().predict_proba(result.sidecar, pictures)  # type: ignore[attr-defined]
    assert np.abs(probabilities - clf.predict_proba(pictures)).max() < 1e-4
    assert [classes[i] for i in probabilities.argmax(axis=1)] == list(clf.predict(pictures))

    printed = subprocess.run([sys.executable, str(RUNNER), str(result.sidecar), *map(str, pictures)],
                             capture_output=True, text=True, check=True).stdout.splitlines()
    assert [line.split("\t")[1] for line in printed] == list(clf.predict(pictures))
    # the sets travel in the sidecar: the runner's match handful's own
    assert meta["prediction_sets"]["level"] == 0.9 and len(meta["prediction_sets"]["thresholds"]) == 2
    expected = [" or ".join(found) or "(none)" for found in clf.predict_sets(pictures)]
    assert [line.split("\t")[3] for line in printed] == expected
    assert "not exported" in meta["unlike_anything_learned"]


@pytest.mark.parametrize("learner", ["linear", "mlp", "cosine", "prototypes", "autoencoder", "vae", "self-training",
                                     "vae-examples"])
@pytest.mark.parametrize("scaling", ["l2", "standard"])
def test_head_in_torch_ops_matches_every_learner(learner: str, scaling: str) -> None:
    import torch

    from handful.learners import make_learner

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 12)
    features = (rng.normal(size=(36, 10)) + y[:, None] * 0.8).astype(np.float32)
    head = make_learner(learner, scaling).fit(features, y, 3, 0)
    new = rng.normal(size=(7, 10)).astype(np.float32) * 2
    with torch.no_grad():
        got = head_module(head)(torch.from_numpy(new)).numpy()
    assert np.abs(got - head.predict_proba(new)).max() < 1e-5


@pytest.mark.parametrize("learner", ["autoencoder", "vae"])
def test_a_model_whose_head_learnt_from_the_unlabelled_pool_exports(learner: str, tmp_path: Path) -> None:
    photos = write_images(tmp_path / "photos", per_class=6)
    pool = write_images(tmp_path / "pool", per_class=5, seed=1)
    clf = handful.Classifier(backbone="tiny-image", learners=learner, random_state=0, verbose=0, n_jobs=1,
                             cache_dir=False, cv_folds=2, cv_repeats=1).fit(photos, unlabelled=pool)
    assert clf.learner_ == learner and clf.unlabelled_ is not None and clf.unlabelled_["used_by_model"]
    samples = sorted(photos.rglob("*.png"))
    result = export_onnx(clf, tmp_path / "model.onnx", samples=samples[:2] + samples[-2:])
    assert result.n_checked == 4 and result.max_abs_diff < 1e-4
    classes, probabilities = _runner().predict_proba(result.sidecar, samples[2:5])  # type: ignore[attr-defined]
    assert np.abs(probabilities - clf.predict_proba(samples[2:5])).max() < 1e-4


def test_refused_backbones_name_themselves_and_the_ones_that_export() -> None:
    supported = "Backbones that export: efficientnet-lite0, efficientnet-lite2, minilm-l6, tiny-image."
    with pytest.raises(ValueError) as error:
        check_exportable("colour-thumbnail")
    assert str(error.value) == (
        "cannot export a model on the backbone 'colour-thumbnail' to ONNX: its features are handcrafted statistics "
        f"computed outside any neural network. {supported} Retrain with one of them to export.")
    with pytest.raises(ValueError) as error:
        check_exportable("efficientnet-lite0+aisfx")
    assert str(error.value) == (
        "cannot export a model on the fused backbone 'efficientnet-lite0+aisfx' to ONNX: fused backbones have "
        f"several inputs with different preprocessing. {supported} Retrain with one of them "
        "(handful train DATA --backbone efficientnet-lite0) to export.")
    with pytest.raises(ValueError, match=r"backbone 'e5-small' to ONNX: its preprocessing or engine cannot"):
        check_exportable("e5-small")


def test_refused_model_writes_nothing(trained: tuple[Path, list[Path]], tmp_path: Path) -> None:
    clf = handful.load(trained[0])
    clf.backbone_ = "colour-thumbnail"  # as if trained on the baseline: refused before anything is built
    with pytest.raises(ValueError, match="backbone 'colour-thumbnail' to ONNX"):
        export_onnx(clf, tmp_path / "out" / "m.onnx")
    assert not (tmp_path / "out").exists()


def test_failed_parity_leaves_no_file_and_keeps_the_previous_export(trained: tuple[Path, list[Path]],
                                                                     tmp_path: Path) -> None:
    model, _ = trained
    target = tmp_path / "m.onnx"
    target.write_bytes(b"previous export")  # with the sidecar that says handful wrote it, unchanged since
    sidecar = {"format": "handful-onnx", "onnx": {"file": "m.onnx", "sha256": hashlib.sha256(b"previous export")
                                                                              .hexdigest()}}
    target.with_name("m.onnx.json").write_text(json.dumps(sidecar))
    with pytest.raises(ParityError, match=r"differ from handful's by up to .* over the tolerance 1e-15"):
        export_onnx(model, target, tolerance=1e-15)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.json"]
    assert target.read_bytes() == b"previous export"


@pytest.mark.parametrize("taken", ["m.onnx", "m.onnx.json", "m.onnx.tokenizer.json", "changed"])
def test_a_file_handful_did_not_write_is_never_replaced(trained: tuple[Path, list[Path]], tmp_path: Path,
                                                        taken: str) -> None:
    model, _ = trained
    if taken == "changed":  # an export handful wrote, then edited by its user (quantised, say): theirs now
        export_onnx(model, tmp_path / "m.onnx")
        with (tmp_path / "m.onnx").open("ab") as handle:
            handle.write(b"\0")
        taken = "m.onnx"
    else:
        (tmp_path / taken).write_text("the user's own file")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ValueError, match=f"{tmp_path / taken} exists and is not an export handful wrote"):
        export_onnx(model, tmp_path / "m.onnx")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_cli_export_prints_parity_and_refuses_clearly(trained: tuple[Path, list[Path]], tmp_path: Path) -> None:
    model, _ = trained
    runner = CliRunner()
    done = runner.invoke(app, ["export", str(model), "--format", "onnx"])  # beside the model, generated inputs
    written = [model.with_name("model.onnx"), model.with_name("model.onnx.json")]
    try:
        assert done.exit_code == 0, done.output
        figure = re.search(r"Parity with PyTorch on 4 inputs: largest absolute difference in probabilities\s+"
                           r"([0-9.e+-]+) \(tolerance 1e-04\)", done.output)
        assert figure is not None and float(figure.group(1)) < 1e-4
        assert all(path.is_file() for path in written)
    finally:
        for path in written:
            path.unlink(missing_ok=True)

    wrong = runner.invoke(app, ["export", str(model), "--format", "tflite"])
    assert wrong.exit_code == 1 and "the only one is onnx" in wrong.output


def test_missing_packages_say_how_to_install(trained: tuple[Path, list[Path]], monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    from handful.export import MissingExportDependencyError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxscript" else real(name, *a))
    with pytest.raises(MissingExportDependencyError, match=r"needs onnxscript, not installed\. Install with: pip "
                                                           r"install \"handful\[export\]\""):
        export_onnx(trained[0], tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())


def test_readme_shows_the_tested_runner() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert RUNNER.read_text(encoding="utf-8") in blocks
