"""Label noise, near-duplicates and what to label next: the algorithms, the Classifier wiring and the CLI."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from handful import Classifier, load
from handful.cli import app
from handful.data.sources import read_unlabelled
from handful.evaluation.noise import (
    confident_joint,
    find_near_duplicates,
    outlier_scores,
    rank_label_issues,
)
from handful.evaluation.suggest import select, uncertainty
from tests.conftest import write_csv, write_images

runner = CliRunner()


def tiny(modality: str = "image", **kwargs: object) -> Classifier:
    options = {"preset": "fast", "backbone": f"tiny-{modality}", "random_state": 0, "verbose": 0}
    return Classifier(**{**options, **kwargs})  # type: ignore[arg-type]


def square(path: Path, colour: tuple[int, int, int], seed: int) -> Path:
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour) + rng.normal(0, 25, (40, 48, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Classifier, Path]:
    """Ten red and ten blue images, one more red image filed under blue, and a red copy filed under blue."""
    folder = write_images(tmp_path_factory.mktemp("planted") / "photos", per_class=10)
    square(folder / "blue" / "planted.png", (200, 40, 30), seed=99)
    shutil.copy(folder / "red" / "red_3.png", folder / "blue" / "copy_of_red_3.png")
    return tiny(cache_dir=False).fit(folder), folder


def test_confident_joint_and_ranking_on_known_probabilities() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1, 1])
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.2, 0.8], [0.1, 0.9], [0.95, 0.05], [0.4, 0.6]])
    assert confident_joint(labels, proba).tolist() == [[2, 0], [1, 3]]
    ranked = rank_label_issues(proba, labels, ["a", "b"], [f"x{i}" for i in range(7)])
    assert [(i.source, i.kind, i.given, i.suggested) for i in ranked if i.flagged] == [("x5", "label", "b", "a")]
    assert ranked[0].score == pytest.approx(0.05) and ranked[1].source == "x6"
    by_margin = rank_label_issues(proba, labels, ["a", "b"], [f"x{i}" for i in range(7)], rank_by="normalized_margin")
    assert by_margin[0].score == pytest.approx((0.05 - 0.95 + 1) / 2)
    with pytest.raises(ValueError, match="labels must be class indices"):
        rank_label_issues(proba, labels + 1, ["a", "b"], ["x"] * 7)


def test_isolated_example_is_an_outlier() -> None:
    rng = np.random.default_rng(0)
    features = np.vstack([rng.normal(0, 0.05, (30, 8)) + 1.0, -np.ones((1, 8))])
    z = outlier_scores(features)
    assert z.argmax() == 30 and z[30] > 3.5 and (z[:30] < 3.5).all()
    assert outlier_scores(features[:10]).tolist() == [0.0] * 10  # too few to say


def test_planted_mislabels_rank_first(planted: tuple[Classifier, Path]) -> None:
    clf, _ = planted
    found = clf.label_issues_
    top = found["examples"][:2]
    assert {Path(e["source"]).name for e in top} == {"planted.png", "copy_of_red_3.png"}
    assert {(e["kind"], e["given"], e["suggested"]) for e in top} == {("label", "blue", "red")}
    assert found["n_flagged"] == len(found["examples"]) <= 4


def test_duplicates_across_classes_come_first(planted: tuple[Classifier, Path]) -> None:
    pairs = planted[0].label_issues_["duplicates"]
    names = {Path(pairs[0]["first_source"]).name, Path(pairs[0]["second_source"]).name}
    assert names == {"red_3.png", "copy_of_red_3.png"}
    assert pairs[0]["conflict"] and pairs[0]["similarity"] == pytest.approx(1.0)
    assert all(p["similarity"] >= 0.95 for p in pairs)


def test_near_duplicate_threshold_and_validation() -> None:
    x = np.array([[1.0, 0.0], [0.9, 0.44], [0.0, 1.0]])
    assert find_near_duplicates(x, ["a", "a", "b"], ["p", "q", "r"], threshold=0.99) == []
    same = find_near_duplicates(x, ["a", "a", "b"], ["p", "q", "r"], threshold=0.85)
    assert [(p.first_source, p.second_source, p.conflict) for p in same] == [("p", "q", False)]
    with pytest.raises(ValueError, match="threshold must be a cosine similarity"):
        find_near_duplicates(x, ["a", "a", "b"], ["p", "q", "r"], threshold=1.5)


def test_label_issues_survive_save_and_load(planted: tuple[Classifier, Path], tmp_path: Path) -> None:
    clf, _ = planted
    clf.save(tmp_path / "model")
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    assert manifest["label_issues"] == clf.label_issues_
    assert load(tmp_path / "model").label_issues_ == clf.label_issues_


@pytest.fixture(scope="module")
def text_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Classifier, Path]:
    """The review table with one more positive sentence labelled negative."""
    path = write_csv(tmp_path_factory.mktemp("text") / "reviews.csv")
    rows = path.read_text(encoding="utf-8").splitlines()
    rows.append('"a wonderful, moving and delightful film",neg')
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return tiny("text").fit(path), path


def test_text_issues_carry_the_text(text_model: tuple[Classifier, Path]) -> None:
    clf, path = text_model
    found = {(e["text"], e["source"], e["suggested"]) for e in clf.label_issues_["examples"]}
    assert ("a wonderful, moving and delightful film", f"{path}, line 18", "pos") in found
    assert all(e["source"].startswith(str(path)) for e in clf.label_issues_["examples"])


def test_uncertainty_measures() -> None:
    proba = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.6, 0.3, 0.1]])
    assert uncertainty(proba, "margin").tolist() == pytest.approx([1.0, 0.0, 0.7])
    assert uncertainty(proba, "entropy")[1] == pytest.approx(0.0)
    assert uncertainty(proba, "least_confident").tolist() == pytest.approx([0.75, 0.0, 0.6])
    with pytest.raises(ValueError, match="method must be one of margin, entropy, least_confident"):
        uncertainty(proba, "random")  # type: ignore[arg-type]


def test_select_prefers_uncertain_and_skips_copies() -> None:
    proba = np.array([[0.5, 0.5], [0.5, 0.5], [0.55, 0.45], [0.99, 0.01], [0.6, 0.4]])
    features = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.7, 0.7], [0.6, 0.8]])
    chosen = select(proba, features, 2, "diverse").tolist()
    assert chosen == [0, 2]  # the copy of example 0 is passed over
    assert select(proba, features, 10, "diverse").tolist()[:2] == [0, 2]
    assert len(select(proba, features, 10, "diverse")) == 5
    assert select(proba, features, 2, "margin").tolist() == [0, 1]  # uncertainty alone takes the copy
    with pytest.raises(ValueError, match="n must be a positive integer"):
        select(proba, features, 0)
    with pytest.raises(ValueError, match="method must be one of cluster, diverse, margin, entropy, least_confident"):
        select(proba, features, 2, "random")  # type: ignore[arg-type]


def blobs(copies: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Four tight groups of eight points on a circle; the most uncertain point of group 0 has ``copies`` copies."""
    rng = np.random.default_rng(0)
    angles = np.repeat([0.0, 1.6, 3.2, 4.8], 8) + rng.normal(0, 0.05, 32)
    features = np.c_[np.cos(angles), np.sin(angles), rng.normal(0, 0.01, (32, 3))]
    top = np.linspace(0.5, 0.95, 32)  # example 0 the least sure
    features[1 : 1 + copies] = features[0]
    proba = np.c_[top, 1 - top]
    return proba, features


def test_cluster_takes_one_per_group_and_never_two_copies() -> None:
    proba, features = blobs()
    chosen = select(proba, features, 4, "cluster", pool=8)
    assert chosen.tolist() == [0, 8, 16, 24]  # the least sure of each group; no copy of example 0
    assert select(proba, features, 4, "cluster", pool=8).tolist() == chosen.tolist()  # deterministic
    margin_first = select(proba, features, 4, "margin").tolist()
    assert margin_first == [0, 1, 2, 3]  # uncertainty alone: example 0 and its three copies


def test_cluster_with_fewer_distinct_points_than_wanted() -> None:
    proba = np.array([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.6, 0.4], [0.9, 0.1]])
    features = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    chosen = select(proba, features, 4, "cluster").tolist()
    assert len(chosen) == 4 and len(set(chosen)) == 4 and chosen[0] == 0
    for method in ("cluster", "diverse", "margin", "entropy", "least_confident"):
        assert sorted(select(proba, features, 50, method).tolist()) == [0, 1, 2, 3, 4]  # type: ignore[arg-type]


def test_strategies_on_sparse_features() -> None:
    from scipy import sparse

    proba, features = blobs(copies=0)
    counts = sparse.csr_matrix(np.abs(features))
    assert select(proba, counts, 4, "cluster").tolist() == select(proba, np.abs(features), 4, "cluster").tolist()
    assert select(proba, [counts, np.abs(features)], 4, "diverse").shape == (4,)


def test_classifier_suggest_flat_folder(planted: tuple[Classifier, Path], tmp_path: Path) -> None:
    clf, _ = planted
    pool = tmp_path / "pool"
    for i in range(6):
        square(pool / f"red_{i}.png", (200, 40, 30), seed=100 + i)
        square(pool / f"blue_{i}.png", (30, 60, 210), seed=200 + i)
    for i, colour in enumerate([(115, 50, 120), (150, 45, 90), (90, 55, 160), (130, 80, 130)]):
        square(pool / f"purple_{i}.png", colour, seed=300 + i)  # between red and blue, and unlike each other
    (pool / "broken.png").write_bytes(b"not an image")
    records = clf.suggest(pool, n=4)
    assert [r["rank"] for r in records] == [1, 2, 3, 4]
    assert len({r["input"] for r in records}) == 4
    assert sum(Path(r["input"]).name.startswith("purple") for r in records) >= 3
    chosen = np.mean([r["uncertainty"] for r in records])
    everything = clf.suggest(pool, n=100)
    assert len(everything) == 16 and chosen > np.mean([r["uncertainty"] for r in everything])
    assert clf.suggest(pool, n=4) == records
    assert clf.suggest(pool, n=4, method="margin")[0]["uncertainty"] == max(r["uncertainty"] for r in everything)
    with pytest.raises(ValueError, match="method must be one of cluster, diverse, margin, entropy, least_confident"):
        clf.suggest(pool, method="max")


def test_read_unlabelled_sources(tmp_path: Path) -> None:
    table = tmp_path / "pool.csv"
    table.write_text("text\nfine film\n\nawful film\n", encoding="utf-8")
    pool = read_unlabelled(table, "text")
    assert [e.text for e in pool.examples] == ["fine film", "awful film"] and pool.labels == [None, None]
    lines = tmp_path / "pool.txt"
    lines.write_text("one\n\ntwo\n", encoding="utf-8")
    assert [e.text for e in read_unlabelled(lines, "text").examples] == ["one", "two"]
    with pytest.raises(ValueError, match="is a folder; unlabelled texts come in a .csv/.tsv/.jsonl table"):
        read_unlabelled(tmp_path, "text")
    with pytest.raises(FileNotFoundError, match="missing does not exist"):
        read_unlabelled(tmp_path / "missing", "image")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no files"):
        read_unlabelled(tmp_path / "empty", "image")


def test_cli_check_json_and_csv(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "photos", per_class=6)
    shutil.copy(folder / "red" / "red_0.png", folder / "blue" / "dup.png")
    out = tmp_path / "issues.csv"
    result = runner.invoke(app, ["check", str(folder), "--backbone", "tiny-image", "--json", "-o", str(out)])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["duplicates"][0]["conflict"]
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert any(r["kind"] == "duplicate conflict" for r in rows)
    result = runner.invoke(app, ["check", str(folder), "--backbone", "tiny-image"])
    assert result.exit_code == 0, result.output
    assert "Flagged: check these labels" in result.output and "Near-duplicates" in result.output


def test_cli_suggest_writes_csv(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "photos", per_class=6)
    tiny().fit(folder).save(tmp_path / "model")
    pool = tmp_path / "pool"
    for i in range(5):
        square(pool / f"x_{i}.png", (115, 50, 120), seed=i)
    out = tmp_path / "next.csv"
    result = runner.invoke(app, ["suggest", str(tmp_path / "model"), str(pool), "-n", "3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["rank"] for r in rows] == ["1", "2", "3"] and set(rows[0]) == {
        "rank", "file", "predicted", "probability", "uncertainty"}
    assert "Label these next" in result.output
    result = runner.invoke(app, ["suggest", str(tmp_path / "model"), str(pool), "--method", "margin", "-n", "9",
                                 "-o", str(out), "--quiet"])
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert result.exit_code == 0 and sorted(Path(r["file"]).name for r in rows) == [f"x_{i}.png" for i in range(5)]
    result = runner.invoke(app, ["suggest", str(tmp_path / "model"), str(pool), "--method", "nearest"])
    assert result.exit_code == 1 and "method must be one of cluster, diverse" in result.output
    result = runner.invoke(app, ["suggest", str(tmp_path / "model"), str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_text_model_suggests_from_a_table(text_model: tuple[Classifier, Path], tmp_path: Path) -> None:
    clf, _ = text_model
    pool = tmp_path / "pool.csv"
    pool.write_text("sentence,id\nan odd film,1\na great film,2\nthe worst,3\nfine,4\n", encoding="utf-8")
    records = clf.suggest(pool, n=2)
    assert len(records) == 2 and all(r["input"] == r["text"] for r in records)
    assert records[0]["source"].startswith(str(pool))


def test_flagging_most_examples_comes_with_a_caution_about_the_model() -> None:
    """A weak model (right on a third of 60 examples out of fold) flags its own mistakes: the findings say so."""
    from handful.evaluation.noise import summarize

    rng = np.random.default_rng(0)
    labels = np.arange(60) % 3
    weak = rng.dirichlet(np.ones(3), size=60)
    found = summarize(weak, labels, ["a", "b", "c"], [f"{i}.txt" for i in range(60)])
    assert found["n_flagged"] >= 15 and found["caution"] is not None
    assert found["caution"].startswith(f"{found['n_flagged']} of 60 examples are flagged: a model right on ")
    good = np.full((60, 3), 0.05)
    good[np.arange(60), labels] = 0.9
    good[0] = [0.05, 0.9, 0.05]  # one clear swap
    assert summarize(good, labels, ["a", "b", "c"], [f"{i}.txt" for i in range(60)])["caution"] is None
