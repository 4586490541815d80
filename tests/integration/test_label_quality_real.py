"""`handful check` on real data with the real default backbone: the known bad example in ants_bees is found."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from handful.cli import app
from tests.conftest import shared

pytestmark = pytest.mark.slow


def test_check_finds_the_placeholder_gif_in_ants_bees() -> None:
    train = shared("images", "ants_bees", "train")
    result = CliRunner().invoke(app, ["check", str(train), "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    top = [e["source"] for e in found["examples"][:5]]
    assert any(source.endswith("ants/imageNotFound.gif") for source in top), top


def test_a_model_too_weak_to_judge_labels_says_so() -> None:
    """SST-5 at 12 sentences a class: MiniLM's linear and prototype heads are right on about a fifth out of fold, so
    most examples are flagged; `check` says they are likely the model's own mistakes, and the diagnosis does not
    send the user to check every class's labels."""
    import csv

    from handful import Classifier

    with shared("text", "sst5", "train.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    picked: dict[str, list[str]] = {}
    for row in rows:
        if len(picked.setdefault(row["label"], [])) < 12:
            picked[row["label"]].append(row["text"])
    texts = [t for label in sorted(picked) for t in picked[label]]
    labels = [label for label in sorted(picked) for _ in picked[label]]
    clf = Classifier(preset="fast", backbone="minilm-l6", verbose=0, random_state=0).fit(texts, labels)
    found = clf.label_issues_
    assert found["n_flagged"] >= 15 and "most of these are likely its own mistakes" in found["caution"]
    assert not any("Check the labels" in advice for advice in clf.diagnosis_.advice)
    assert "<b>Caution:</b>" in clf.report_.html()
