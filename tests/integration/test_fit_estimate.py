"""Before a long train (issue 13, part 8): an estimate of how long it will take, printed before the search's
progress, silenced by -q, and growing with the inputs the feature cache does not hold yet."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from handful import Classifier
from handful.backbones.registry import get_spec
from handful.config import resolve
from handful.data import load
from handful.selection.estimate import estimate_fit, span
from handful.selection.plan import candidates
from tests.conftest import write_images


def plan_for(folder: Path, cache: Path | None) -> tuple[int, float, dict[str, int]]:
    data = load(folder).train
    cfg = resolve("fast", "image", ["tiny-image"], None, 5, 1, None, 0, len(data))
    found = estimate_fit(candidates(cfg), data.examples, 5, cache)
    return len(data), found.embedding_s, found.uncached


def test_the_estimate_scales_with_the_inputs_not_yet_cached(tmp_path: Path) -> None:
    small = write_images(tmp_path / "small", per_class=6)
    large = write_images(tmp_path / "large", per_class=18, seed=1)
    cache = tmp_path / "cache"
    n_small, small_s, small_uncached = plan_for(small, cache)
    n_large, large_s, large_uncached = plan_for(large, cache)
    assert small_uncached["tiny-image"] == n_small and large_uncached["tiny-image"] == n_large
    assert large_s > small_s > 0
    Classifier(preset="fast", backbone="tiny-image", random_state=0, verbose=0, cache_dir=cache).fit(small)
    _, cached_s, cached_uncached = plan_for(small, cache)  # embedded once: nothing left to embed
    assert cached_uncached["tiny-image"] == 0 and cached_s < small_s
    assert get_spec("efficientnet-lite0").ms_per_example > get_spec("minilm-l6").ms_per_example > 1


def test_the_range_is_in_words() -> None:
    assert span(6, 18) == "6-18 seconds"
    assert span(50, 150) == "1-3 minutes"
    assert span(4000, 9000) == "1-3 hours"
    assert span(20, 700) == "20 seconds to 12 minutes"
    assert span(1, 3700) == "1 second to 2 hours"


def test_the_low_end_is_the_first_stage_and_the_high_end_every_stage(tmp_path: Path) -> None:
    """The default preset's costly stage runs only when the cheap heads leave headroom: the range spans both."""
    data = load(write_images(tmp_path / "photos", per_class=20)).train
    best = resolve("best", "image", ["tiny-image"], None, 5, 1, None, 0, len(data))
    fast = resolve("fast", "image", ["tiny-image"], None, 5, 1, None, 0, len(data))
    both = estimate_fit(candidates(best), data.examples, 5, None, views=4)
    first = estimate_fit(candidates(fast), data.examples, 5, None)
    assert both.low == pytest.approx(first.low)  # the same frozen backbone and cheap heads
    assert both.high > 3 * first.high  # fine-tuning, the MLPs and the views are the costly stage


def train(folder: Path, cache: Path, *flags: str) -> str:
    environment = {**os.environ, "HANDFUL_CACHE_DIR": str(cache), "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "handful", "train", str(folder), "--backbone", "tiny-image",
                           "--preset", "fast", "-o", str(folder.parent / "model"), *flags],
                          capture_output=True, text=True, env=environment, timeout=300, check=True)
    return done.stderr + done.stdout


def test_train_prints_the_estimate_before_the_search_and_q_silences_it(tmp_path: Path) -> None:
    photos = write_images(tmp_path / "photos", per_class=6)
    said = train(photos, tmp_path / "cache")
    assert "Estimated time: about " in said and "a rough estimate" in said
    assert said.index("Estimated time") < said.index("Scoring candidates")
    assert "Estimated time" not in train(photos, tmp_path / "cache2", "-q")


def test_an_unlabelled_pool_adds_its_embedding_and_heads_to_the_high_end_only(tmp_path: Path) -> None:
    """The pool is embedded only for its heads, costly ones where the pool is larger than the labelled set: a search
    the cheap heads end never pays for it."""
    data = load(write_images(tmp_path / "photos", per_class=20)).train
    pool = load(write_images(tmp_path / "pool", per_class=60, seed=2)).train.examples
    best = resolve("best", "image", ["tiny-image"], None, 5, 1, None, 0, len(data))
    alone = estimate_fit(candidates(best), data.examples, 5, None)
    pooled = estimate_fit(candidates(best, with_pool=True), data.examples, 5, None, unlabelled=pool)
    assert pooled.low == pytest.approx(alone.low)
    assert pooled.embedding_s - alone.embedding_s == pytest.approx(len(pool) * get_spec("tiny-image").ms_per_example
                                                                   / 1000)
    assert pooled.search_s > alone.search_s  # the pool's heads, on the labelled rows and the pool's
    # a pool no larger than the labelled set: align joins the cheap heads, so even the low end pays for the pool
    small = estimate_fit(candidates(best, with_pool=True), data.examples, 5, None, unlabelled=pool[:len(data)])
    assert small.low > alone.low


def test_a_pool_for_co_training_counts_each_backbone_it_reads(tmp_path: Path) -> None:
    from handful.data import from_texts

    labelled = from_texts(["good", "bad", "fine", "awful"], ["pos", "neg", "pos", "neg"])
    pool = from_texts([f"sentence number {i}" for i in range(40)], None)
    cfg = resolve("best", "text", ["minilm-l6", "e5-small"], ["linear", "co-training"], 5, 1, None, 0, 4)
    planned = candidates(cfg, with_pool=True)
    assert "e5-small+minilm-l6" in {c.backbone for c in planned}
    alone = estimate_fit(planned, labelled.examples, 5, tmp_path, unlabelled=()).embedding_s
    found = estimate_fit(planned, labelled.examples, 5, tmp_path, unlabelled=pool.examples).embedding_s
    both = 40 * (get_spec("minilm-l6").ms_per_example + get_spec("e5-small").ms_per_example) / 1000
    assert found - alone == pytest.approx(both)  # the pool is embedded by both backbones, once each
