"""End to end with the real pretrained backbones on the real shared data, the CLI as a real subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import handful
from tests.conftest import shared

pytestmark = pytest.mark.slow


def small_copy(source: Path, target: Path, per_class: int, pattern: str = "*") -> Path:
    """A few files per class copied from the shared data, so a test can add a corrupt file beside them."""
    for class_dir in sorted(p for p in source.iterdir() if p.is_dir()):
        (target / class_dir.name).mkdir(parents=True)
        for file in sorted(class_dir.glob(pattern))[:per_class]:
            shutil.copy(file, target / class_dir.name / file.name)
    return target


def test_ants_bees_fast_preset_beats_baseline_on_val() -> None:
    clf = handful.Classifier(preset="fast", random_state=0, verbose=0).fit(shared("images", "ants_bees"))
    assert clf.backbone_ == "efficientnet-lite0"
    assert clf.holdout_ is not None and clf.holdout_["n"] == 153
    assert clf.holdout_["accuracy"] > 0.85
    assert clf.baseline_ is not None
    assert clf.cv_score_ is not None and clf.cv_score_.mean > clf.baseline_["balanced_accuracy"]["mean"] + 0.1


def test_corrupt_and_mislabelled_duplicate_among_real_photos(tmp_path: Path) -> None:
    data = small_copy(shared("images", "ants_bees", "train"), tmp_path / "photos", per_class=15, pattern="*.jpg")
    (data / "ants" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff" + os.urandom(2000))
    first_bee = sorted((data / "bees").glob("*.jpg"))[0]
    shutil.copy(first_bee, data / "ants" / "looks_like_a_bee.jpg")
    clf = handful.Classifier(preset="fast", random_state=0, verbose=0).fit(data)
    messages = {Path(p.where).name: p.message for p in clf.problems_}
    assert "not a readable image" in messages["corrupt.jpg"]
    conflict = messages.get("looks_like_a_bee.jpg") or messages[first_bee.name]
    assert "check the label" in conflict
    assert clf.n_examples_ == 31


def test_text_real_minilm_few_shot(tmp_path: Path) -> None:
    import csv

    rows = list(csv.DictReader(shared("text", "sst2", "train.csv").open(encoding="utf-8")))
    rng = np.random.default_rng(0)
    picked = [r for label in ("0", "1") for r in rng.permutation([r for r in rows if r["label"] == label])[:16]]
    clf = handful.Classifier(preset="fast", random_state=0, verbose=0).fit(
        [r["text"] for r in picked], ["neg" if r["label"] == "0" else "pos" for r in picked])
    assert clf.backbone_ == "minilm-l6"
    assert list(clf.predict(["a gorgeous, moving, wonderful film", "a boring, stupid waste of time"])) == ["pos", "neg"]


@pytest.mark.parametrize("shown", [True, False])
def test_loading_minilm_draws_no_bar_and_leaves_the_users_setting(shown: bool, capfd: pytest.CaptureFixture[str]
                                                                  ) -> None:
    from transformers.utils import logging as transformers_logging

    from handful.backbones.text import MiniLM

    def set_bar(on: bool) -> None:
        with warnings.catch_warnings():  # in-process CLI tests set HF_HUB_DISABLE_PROGRESS_BARS, as -q does
            warnings.simplefilter("ignore", UserWarning)
            (transformers_logging.enable_progress_bar if on else transformers_logging.disable_progress_bar)()

    set_bar(shown)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message="Cannot enable progress bars")  # restoring warns of nothing
            MiniLM()  # loads the weights again: the class, not the registry's cached instance
        assert "Loading weights" not in capfd.readouterr().err
        assert transformers_logging.is_progress_bar_enabled() is shown
    finally:
        set_bar(True)


def test_audio_real_aisfx(tmp_path: Path) -> None:
    data = small_copy(shared("audio", "spoken_digits"), tmp_path / "clips", per_class=6)
    for digit in sorted(p.name for p in data.iterdir())[3:]:
        shutil.rmtree(data / digit)
    clf = handful.Classifier(preset="fast", random_state=0, verbose=0).fit(data)
    assert clf.modality_ == "audio" and len(clf.classes_) == 3
    assert {(r["backbone"], r["status"]) for r in clf.leaderboard_} >= {("aisfx", "ok"), ("mfcc-stats", "ok")}
    clip = sorted((data / clf.classes_[0]).glob("*.wav"))[0]
    assert clf.predict([clip])[0] == clf.classes_[0]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "handful", *args], capture_output=True, text=True, timeout=900,
                          env={**os.environ, **(env or {})}, check=False)


def test_cli_subprocess_train_predict_evaluate(tmp_path: Path) -> None:
    train = small_copy(shared("images", "ants_bees", "train"), tmp_path / "train", per_class=20, pattern="*.jpg")
    held = small_copy(shared("images", "ants_bees", "val"), tmp_path / "held", per_class=10)
    model = tmp_path / "model"
    result = run_cli("train", str(train), "-o", str(model), "--preset", "fast", "--seed", "1")
    assert result.returncode == 0, result.stderr
    assert "Leaderboard" in result.stdout and "Baseline (colour-thumbnail)" in result.stdout
    files = [str(p) for p in sorted(held.rglob("*.jpg"))[:3]]
    result = run_cli("predict", str(model), *files, "--format", "json")
    assert result.returncode == 0, result.stderr
    assert [r["input"] for r in json.loads(result.stdout)] == files
    result = run_cli("evaluate", str(model), str(held), "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["accuracy"] > 0.6
    (model / "head.safetensors").write_bytes(b"truncated")
    result = run_cli("predict", str(model), files[0])
    assert result.returncode == 1 and "truncated or damaged" in result.stderr


def test_second_train_reuses_cached_features(tmp_path: Path) -> None:
    train = small_copy(shared("images", "ants_bees", "train"), tmp_path / "train", per_class=12, pattern="*.jpg")
    first = handful.Classifier(preset="fast", random_state=0, verbose=0, cache_dir=tmp_path / "c").fit(train)
    cached = list((tmp_path / "c").rglob("*.safetensors"))
    second = handful.Classifier(preset="fast", random_state=0, verbose=0, cache_dir=tmp_path / "c").fit(train)
    assert list((tmp_path / "c").rglob("*.safetensors")) == cached  # nothing new was embedded
    assert second.cv_score_ == first.cv_score_


def test_demo_runs_on_the_bundled_example(tmp_path: Path) -> None:
    result = run_cli("demo", "--folder", str(tmp_path / "demo"), "--per-class", "10")
    assert result.returncode == 0, result.stderr
    assert "held-out digits: accuracy" in result.stdout
    assert (tmp_path / "demo" / "model" / "manifest.json").exists()
    # each size has its own images: a later run with more a digit never trains on this run's held-out ones
    assert len(list((tmp_path / "demo" / "digits-10" / "train").glob("*/*.png"))) == 100
