"""The HTML report rendered by a real headless Chromium: the page draws, with its plots and thumbnails."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import handful
from tests.conftest import write_images

pytestmark = pytest.mark.slow


def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have chromium: scripts/setup.sh dev installs it (apt-get install -y chromium)")
        pytest.skip("chromium is not installed (scripts/setup.sh dev installs it as root: apt-get install chromium)")
    folder = write_images(tmp_path / "photos", per_class=20)
    clf = handful.Classifier(preset="fast", backbone="tiny-image", random_state=0, verbose=0, cache_dir=False)
    page = clf.fit(folder).report_.save(tmp_path / "report.html")
    screenshot = tmp_path / "report.png"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         f"--screenshot={screenshot}", "--window-size=1200,2000", page.resolve().as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    assert screenshot.exists() and screenshot.stat().st_size > 10_000
    with Image.open(screenshot) as image:
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    colours, counts = np.unique(pixels // 8, axis=0, return_counts=True)
    assert len(colours) > 50, "the page looks blank"
    assert (counts > 200).sum() >= 5, "fewer than five colours cover a visible area"
