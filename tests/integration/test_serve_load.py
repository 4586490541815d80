"""benchmarks/serve_load.py as a short smoke run: 16 clients, ~3 s per scenario, against a real server.

Small models on the tiny backbones stand in for the benchmark's Lite0 and MiniLM (the script trains those only
when the folder lacks them); the requests carry real ants/bees photos and SST-2 sentences. Asserts that the script
works and that no request fails, never how fast it went.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import handful
from tests.conftest import NEGATIVE, POSITIVE, shared, write_images

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "serve_load.py"


def test_load_script_smoke_run_has_no_failed_request(tmp_path: Path) -> None:
    shared("images", "ants_bees", "val")
    shared("text", "sst2", "test.csv")
    quick = {"preset": "fast", "random_state": 0, "verbose": 0, "cache_dir": False, "cv_folds": 2, "cv_repeats": 1}
    handful.Classifier(backbone="tiny-image", **quick).fit(write_images(tmp_path / "images")).save(
        tmp_path / "models" / "photos")
    texts, labels = POSITIVE + NEGATIVE, ["pos"] * len(POSITIVE) + ["neg"] * len(NEGATIVE)
    handful.Classifier(backbone="tiny-text", **quick).fit(texts, labels).save(tmp_path / "models" / "reviews")
    out = tmp_path / "load.json"
    run = subprocess.run([sys.executable, str(SCRIPT), "--seconds", "3", "--clients", "16",
                          "--models", str(tmp_path / "models"), "--out", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert [r["scenario"] for r in result["scenarios"]] == ["image", "text", "batch8"]
    for row in result["scenarios"]:
        assert row["clients"] == 16 and row["requests"] >= 16, row
        assert row["failed"] == 0, row
        assert row["items_per_s"] > 0 and row["p50_ms"] <= row["p99_ms"]
    assert len(result["load_average_before"]) == 3
    assert "| batch8 | 16 |" in run.stdout
