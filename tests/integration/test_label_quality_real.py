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
