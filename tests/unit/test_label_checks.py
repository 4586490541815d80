"""Label checks decide: the flagged set is a decision (empty when nothing is wrong), the ranking a separate list, and
near-duplicates are judged on content, not on who is speaking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from handful.backbones import get_backbone
from handful.data.decode import Audio
from handful.evaluation.noise import content_view, find_near_duplicates, rank_label_issues, summarize
from tests.conftest import shared


def test_nothing_flagged_leaves_the_flagged_list_empty_and_the_ranking_labelled() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1])
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7], [0.1, 0.9], [0.2, 0.8]])
    found = summarize(proba, labels, ["a", "b"], [f"x{i}" for i in range(6)])
    assert found["n_flagged"] == 0 and found["examples"] == []
    assert [(e["source"], e["kind"]) for e in found["ranking"][:2]] == [("x2", "ok"), ("x3", "ok")]


def test_a_swap_below_the_confident_threshold_is_flagged_as_a_disagreement() -> None:
    """On few examples the class threshold sits high: 0.7 for b is below b's mean of 0.85, yet the model trained
    without x3 prefers b. Confident learning alone missed three bees moved into ants this way."""
    labels = np.array([0, 0, 0, 0, 1, 1, 1])
    proba = np.array([[0.9, 0.1], [0.95, 0.05], [0.85, 0.15], [0.3, 0.7], [0.1, 0.9], [0.2, 0.8], [0.15, 0.85]])
    ranked = rank_label_issues(proba, labels, ["ants", "bees"], [f"x{i}" for i in range(7)])
    assert [(i.source, i.kind, i.given, i.suggested) for i in ranked if i.flagged] == [
        ("x3", "disagrees", "ants", "bees")]


def test_confident_label_errors_rank_before_disagreements() -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.45, 0.55], [0.05, 0.95],
                      [0.1, 0.9], [0.3, 0.7], [0.2, 0.8], [0.35, 0.65]])
    ranked = rank_label_issues(proba, labels, ["a", "b"], [f"x{i}" for i in range(8)])
    assert [(i.source, i.kind) for i in ranked[:2]] == [("x3", "label"), ("x2", "disagrees")]


def test_near_duplicates_need_the_same_content_as_well_as_the_same_embedding() -> None:
    voice = np.array([[1.0, 0.02], [1.0, 0.0], [0.99, 0.01]])  # one speaker: every clip alike
    content = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.01, 0.0, 1.0]])  # three different words
    names = ["two", "six", "six"]
    assert len(find_near_duplicates(voice, names, ["a", "b", "c"])) == 3
    assert find_near_duplicates(voice, names, ["a", "b", "c"], content=content) == []
    copied = np.vstack([content[:2], content[:1]])  # c is a copy of a
    pairs = find_near_duplicates(voice, names, ["a", "b", "c"], content=copied)
    assert [(p.first_source, p.second_source, p.conflict, p.content_similarity) for p in pairs] == [
        ("a", "c", True, 1.0)]
    with pytest.raises(ValueError, match="3 feature rows but 2 content rows"):
        find_near_duplicates(voice, names, ["a", "b", "c"], content=content[:2])


def test_spoken_digits_by_one_voice_are_not_duplicates_of_each_other() -> None:
    """Real clips: raw MFCC statistics (what the fast preset's audio winner saw) put one speaker's different digits
    at cosine 0.99; on the same statistics scaled across the set, only a re-saved copy is a duplicate."""
    import soundfile

    root = shared("audio", "spoken_digits")
    paths = [root / str(d) / f"{d}_{s}_{i}.wav" for d in range(10) for s in ("lucas", "nicolas") for i in range(2)]
    clips = []
    for path in paths:
        wave, rate = soundfile.read(str(path), dtype="float32")
        clips.append(Audio(wave, rate))
    clips.append(Audio(0.7 * clips[0].samples, clips[0].sample_rate))  # 0_lucas_0 re-saved quieter, filed as 9
    labels = [p.parent.name for p in paths] + ["9"]
    sources = [p.name for p in paths] + ["copy_of_0_lucas_0.wav"]
    stats = get_backbone("mfcc-stats").embed(clips)
    by_embedding = [p for p in find_near_duplicates(stats, labels, sources, limit=None) if p.conflict]
    assert len(by_embedding) > 20  # the old rule: many "duplicates" between different words
    pairs = find_near_duplicates(stats, labels, sources, limit=None, content=content_view(stats, "standard"))
    assert [(p.first_source, p.second_source) for p in pairs if p.conflict] == [
        ("0_lucas_0.wav", "copy_of_0_lucas_0.wav")]


def test_classifier_keeps_the_ranking_and_judges_duplicates_on_content(tmp_path: Path) -> None:
    import shutil

    from handful import Classifier
    from tests.conftest import write_images

    folder = write_images(tmp_path / "photos", per_class=8)
    shutil.copy(folder / "red" / "red_1.png", folder / "blue" / "copy_of_red_1.png")
    clf = Classifier(preset="fast", backbone="tiny-image", random_state=0, verbose=0, cache_dir=False).fit(folder)
    found = clf.label_issues_
    assert found["duplicates_judged_on"] == "content and embedding"
    assert {Path(found["duplicates"][0]["first_source"]).name, Path(found["duplicates"][0]["second_source"]).name} \
        == {"red_1.png", "copy_of_red_1.png"}
    assert found["duplicates"][0]["content_similarity"] == pytest.approx(1.0)
    assert len(found["ranking"]) == clf.n_examples_ and found["ranking"][0]["kind"] != "ok"


def test_cli_check_on_clean_labels_says_nothing_is_flagged_and_shows_no_table(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from handful.cli import app
    from tests.conftest import write_images

    folder = write_images(tmp_path / "photos", per_class=8)
    runner = CliRunner()
    result = runner.invoke(app, ["check", str(folder), "--backbone", "tiny-image"])
    assert result.exit_code == 0, result.output
    assert "No example of 16 is flagged" in result.output and "Flagged: check these labels" not in result.output
    found = json.loads(runner.invoke(app, ["check", str(folder), "--backbone", "tiny-image", "--json"]).stdout)
    assert found["examples"] == [] and {e["kind"] for e in found["ranking"]} == {"ok"}
