"""The README's first command on a clean clone (issue 13, part 1): `bash scripts/setup.sh` makes the project's own
.venv from nothing but a Python with venv and pip's registry (or its local cache), and the installed `handful` runs:
`--version`, then a real train and predict with the tiny test backbone (seconds, no weights to fetch)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import write_images

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _run(command: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_setup_sh_on_a_clean_clone_gives_a_working_handful(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed: the test clones the repository at HEAD")
    if not (ROOT / ".git").exists():
        pytest.skip(f"{ROOT} is not a git checkout: nothing to clone")
    head = _run(["git", "rev-parse", "HEAD"], ROOT, 60).stdout.strip()
    clone = tmp_path / "handful"
    _run(["git", "clone", "--quiet", "--no-local", str(ROOT), str(clone)], tmp_path, 600)
    _run(["git", "checkout", "--quiet", head], clone, 60)
    assert not (clone / ".venv").exists()

    _run(["bash", "scripts/setup.sh"], clone, 1800)  # the README's first command, as written
    handful = clone / ".venv" / "bin" / "handful"
    assert handful.is_file()

    version = _run([str(handful), "--version"], clone, 120).stdout
    assert version.strip() and version.split()[-1][0].isdigit()
    torch_build = _run([str(clone / ".venv" / "bin" / "python"), "-c", "import torch; print(torch.__version__)"],
                       clone, 300).stdout.strip()
    assert torch_build.startswith("2.13.0") and "cu" not in torch_build.split("+")[-1]  # the CPU build

    photos = write_images(tmp_path / "photos", per_class=8)
    model = tmp_path / "model"
    _run([str(handful), "train", str(photos), "-o", str(model), "--backbone", "tiny-image", "--preset", "fast",
          "-q"], tmp_path, 600)
    result = _run([str(handful), "predict", str(model), str(photos / "red" / "red_0.png"), "--format", "json"],
                  tmp_path, 300)
    assert json.loads(result.stdout)[0]["label"] == "red"
