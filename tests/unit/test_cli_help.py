"""Help in words (issue 13, part 3): every command's ``--help`` shows types a person reads, not Typer's
placeholders, and the usage line names the arguments as click does (``DATA``, ``INPUTS...``)."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from handful.cli import app

runner = CliRunner()
PLACEHOLDER = re.compile(r"<(bool|str|int|float|path|list\[[a-z]+\]|[a-z]+ range)>|\{[a-z_]+\}")


def command_paths(group: typer.Typer = app) -> list[list[str]]:
    click_group = typer.main.get_command(group)
    paths: list[list[str]] = [[]]
    for name, command in click_group.commands.items():  # type: ignore[attr-defined]
        paths.append([name])
        paths.extend([name, sub] for sub in getattr(command, "commands", {}))
    return paths


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "handful")
def test_help_shows_no_placeholder(path: list[str]) -> None:
    result = runner.invoke(app, [*path, "--help"], prog_name="handful", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    found = PLACEHOLDER.findall(result.output)
    assert not found, f"handful {' '.join(path)} --help shows {found}"


def test_every_command_is_covered() -> None:
    names = {" ".join(p) for p in command_paths()}
    assert {"train", "predict", "models list", "models show", "serve", "update"} <= names


def option_row(output: str, option: str) -> str:
    return next(line for line in output.splitlines() if line.lstrip("│ ").startswith(f"{option} "))


def test_values_show_a_word_flags_show_none_and_choices_are_listed() -> None:
    out = runner.invoke(app, ["train", "--help"], prog_name="handful", env={"COLUMNS": "200"}).output
    assert "Usage: handful train [OPTIONS] DATA" in out
    assert re.search(r"--output\s+-o\s+PATH\s", option_row(out, "--output"))
    assert re.search(r"--time-budget\s+SECONDS\s", option_row(out, "--time-budget"))
    assert re.search(r"--seed\s+N\s", option_row(out, "--seed"))
    assert re.search(r"--name\s+TEXT\s", option_row(out, "--name"))
    assert re.search(r"--unlabelled\s+FILE_OR_FOLDER\s", option_row(out, "--unlabelled"))
    assert re.search(r"--preset\s+best\|fast\s", option_row(out, "--preset"))
    assert re.search(r"--profile\s+Show where", option_row(out, "--profile"))  # a flag: no type at all
    assert re.search(r"--quiet\s+-q\s+No progress", option_row(out, "--quiet"))
    assert "(?P<group>[a-z]+)" in out and 'pip install "handful[ray]"' in out  # not eaten as rich markup
    out = runner.invoke(app, ["predict", "--help"], prog_name="handful", env={"COLUMNS": "200"}).output
    assert "Usage: handful predict [OPTIONS] MODEL INPUTS..." in out
    assert re.search(r"MODEL\s+PATH\s", out) and re.search(r"INPUTS\s+TEXT\.\.\.\s", out)
    assert re.search(r"--format\s+table\|json\|csv\s", option_row(out, "--format"))
    out = runner.invoke(app, ["models", "show", "--help"], prog_name="handful", env={"COLUMNS": "200"}).output
    assert "Usage: handful models show [OPTIONS] NAME [VERSION]" in out


def test_errors_name_the_argument_in_the_same_words() -> None:
    result = runner.invoke(app, ["train"])
    assert result.exit_code == 2 and "Missing argument 'DATA'" in result.output
    assert "[OPTIONS] DATA" in result.output


@pytest.mark.parametrize("path", [p for p in command_paths() if p], ids=" ".join)
def test_help_paragraphs_are_wrapped_by_the_terminal_not_by_the_source(path: list[str]) -> None:
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    assert command.help and "\n" not in command.help.replace("\n\n", ""), f"handful {' '.join(path)}: {command.help!r}"
