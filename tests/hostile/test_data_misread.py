"""Class 2: training data is read as the user meant it, or the file/row is named with the fix.

The tables are generated (hypothesis): any text, with quotes, delimiters, line breaks and Unicode line separators,
written the way spreadsheet programs and Python write tables, must read back cell for cell.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from handful.data import from_inputs, load
from handful.data.decode import decode_image
from handful.data.sources import read_unlabelled
from tests.conftest import write_images
from tests.hostile.conftest import snapshot

SEPARATORS = "\n\r\u2028\u2029\x85\x0b\x0c\x1c\x1d\x1e"
TRICKY = st.text(alphabet=st.one_of(st.sampled_from(list(SEPARATORS + ',;\t|"\' ')), st.characters(
    codec="utf-8", exclude_categories=("Cs",))), min_size=1, max_size=40)
TEXTS = TRICKY.filter(lambda t: t.strip() != "")
LABELS = st.sampled_from(["pos", "neg", "a b", "x;y", "café", "1", "none"])
HYPOTHESIS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@HYPOTHESIS
@given(rows=st.lists(st.tuples(TEXTS, LABELS), min_size=1, max_size=12),
       delimiter=st.sampled_from([",", "\t", ";"]), suffix=st.sampled_from([".csv", ".tsv"]),
       terminator=st.sampled_from(["\r\n", "\n"]), bom=st.booleans())
def test_any_table_reads_back_cell_for_cell(tmp_path: Path, rows: list[tuple[str, str]], delimiter: str,
                                            suffix: str, terminator: str, bom: bool) -> None:
    buffer = io.StringIO()
    # As spreadsheet programs do, a cell holding a line break is quoted (the csv module quotes only the
    # characters of its own line terminator, and a bare \r is a line break to every reader).
    quoting = csv.QUOTE_MINIMAL if terminator == "\r\n" else csv.QUOTE_ALL
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=terminator, quoting=quoting)
    writer.writerow(["text", "label"])
    writer.writerows(rows)
    path = tmp_path / f"table{suffix}"
    path.write_text(("\ufeff" if bom else "") + buffer.getvalue(), encoding="utf-8", newline="")
    data = load(path).train
    assert [e.text for e in data.examples] == [text.strip() for text, _ in rows]
    assert data.labels == [label for _, label in rows]


@HYPOTHESIS
@given(texts=st.lists(TEXTS, min_size=2, max_size=10), blank=st.integers(0, 3), missing=st.data())
def test_jsonl_problems_name_the_line_an_editor_shows(tmp_path: Path, texts: list[str], blank: int,
                                                      missing: st.DataObject) -> None:
    gap = missing.draw(st.integers(0, len(texts) - 1))
    lines: list[str] = []
    wanted = 0
    for index, text in enumerate(texts):
        if index == gap:
            lines.extend([""] * blank)
            wanted = len(lines) + 1
        label = None if index == gap else "pos"
        lines.append(json.dumps({"text": text, "label": label}, ensure_ascii=False))  # U+2028 stays raw
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = load(path).train
    assert [e.text for e in data.examples] == [t.strip() for i, t in enumerate(texts) if i != gap]
    assert [p.where for p in data.problems if "unlabelled" in p.message] == [f"{path}, line {wanted}"]


def test_quoted_newline_stays_in_its_cell_and_rows_are_numbered_by_line(tmp_path: Path) -> None:
    path = tmp_path / "notes.csv"
    path.write_text('text,label\n"first line\nsecond line",a\n"one\u2028two\u2029three\x85four",b\n,c\n',
                    encoding="utf-8")
    data = load(path).train
    assert [e.text for e in data.examples] == ["first line\nsecond line", "one\u2028two\u2029three\x85four"]
    assert data.labels == ["a", "b"]
    assert [str(p) for p in data.problems] == [f"{path}, line 5: the text is empty (skipped)"]


@pytest.mark.parametrize("delimiter,suffix", [("\t", ".csv"), (";", ".csv"), (";", ".txt.csv"), ("|", ".csv"),
                                              (",", ".tsv")])
def test_delimiter_is_read_from_the_table_not_the_suffix(tmp_path: Path, delimiter: str, suffix: str) -> None:
    path = tmp_path / f"table{suffix}"
    body = [f"text{delimiter}label", f'"good, solid; fine"{delimiter}pos', f"bad, 1,5 stars{delimiter}neg"]
    if delimiter in ",;":
        body[2] = f'"bad, 1,5 stars"{delimiter}neg'
    path.write_text("\n".join(body) + "\n", encoding="utf-8")
    data = load(path).train
    assert [e.text for e in data.examples] == ["good, solid; fine", "bad, 1,5 stars"]
    assert data.labels == ["pos", "neg"]


@pytest.mark.parametrize("missing", ["", "NaN", "nan", "null", "N/A", "#N/A"])
def test_missing_label_is_never_a_class(tmp_path: Path, missing: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(f"text,label\ngood film,pos\nbad film,neg\nunknown film,{missing}\n", encoding="utf-8")
    data = load(path).train
    assert data.classes == ["neg", "pos"]
    assert len(data.problems) == 1
    assert data.problems[0].where == f"{path}, line 4"
    assert "counts as unlabelled and is left out of training" in data.problems[0].message


def test_jsonl_nan_and_null_labels_are_unlabelled(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": NaN}\n{"text": "c", "label": null}\n'
                    '{"text": "d", "label": "y"}\n', encoding="utf-8")
    data = load(path).train
    assert data.classes == ["x", "y"]
    assert [p.where for p in data.problems] == [f"{path}, line 2", f"{path}, line 3"]


def test_long_cell_is_reported_by_line_and_the_rest_is_read(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("text,label\nshort one,a\n\"" + "w" * 300_000 + "\",b\nanother,b\nmore,a\n", encoding="utf-8")
    data = load(path).train
    assert [e.text for e in data.examples] == ["short one", "another", "more"]
    assert [str(p) for p in data.problems] == [
        f"{path}, line 3: the text has 300,000 characters, over 100,000 (skipped)"]


def test_quotes_and_cell_counts_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('text,label\ngood,a\nbad "quote" here,b\n"fine"x,a\n', encoding="utf-8")
    assert [e.text for e in load(path).train.examples] == ["good", 'bad "quote" here', "finex"]  # as Excel reads
    path.write_text('text,label\ngood,a\n"never closed,b\nlast,a\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"t\.csv, line 3: a quoted cell that starts on this line is never closed"):
        load(path)
    path.write_text("text,label\ngood,a\ngood, solid film,b\nfine,a,\n", encoding="utf-8")
    data = load(path).train
    assert [e.text for e in data.examples] == ["good", "fine"]  # a trailing empty cell is harmless
    assert [str(p) for p in data.problems] == [
        f"{path}, line 3: the row has 3 cells but the header has 2; a cell that holds the delimiter ',' must be "
        "in double quotes (skipped)"]


def test_unlabelled_txt_keeps_unicode_separators_inside_lines(tmp_path: Path) -> None:
    path = tmp_path / "pool.txt"
    path.write_text("one\u2028still one\n\ntwo\r\nthree\x85same\n", encoding="utf-8")
    pool = read_unlabelled(path, "text")
    assert [e.text for e in pool.examples] == ["one\u2028still one", "two", "three\x85same"]
    assert [e.source for e in pool.examples] == [f"{path}, line 1", f"{path}, line 3", f"{path}, line 4"]


@pytest.mark.parametrize("mode,fmt", [("I;16", "PNG"), ("I;16", "TIFF"), ("I;16B", "TIFF"), ("I", "PNG")])
def test_16_bit_images_are_scaled_not_clipped_to_white(mode: str, fmt: str) -> None:
    values = np.linspace(0, 65535, 32 * 32).reshape(32, 32).astype(np.uint16)
    image = Image.fromarray(values).convert(mode) if mode != "I;16" else Image.fromarray(values)
    if mode == "I;16B":
        image = Image.frombytes("I;16B", (32, 32), values.astype(">u2").tobytes())
    if mode == "I":  # how PIL opens some 16-bit files; PNG cannot store it, TIFF can
        image, fmt = Image.fromarray(values.astype(np.int32)), "TIFF"
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    decoded = np.asarray(decode_image(buffer.getvalue()))[..., 0].astype(int)
    expected = np.rint(values / 257.0).astype(int)
    assert np.abs(decoded - expected).max() <= 1
    assert decoded.min() == 0 and decoded.max() == 255 and abs(decoded.mean() - 127.5) < 2


def test_empty_class_folder_and_hidden_folders_at_any_depth(tmp_path: Path) -> None:
    photos = write_images(tmp_path / "photos", per_class=3)
    (photos / "green").mkdir()
    (photos / "green" / ".keep").write_text("")
    for hidden in ("red/.cache/x.png", "red/sub/.thumbs/deeper/y.png", "blue/a/b/.z.png", "blue/.git/objects/q.png"):
        (photos / hidden).parent.mkdir(parents=True, exist_ok=True)
        (photos / hidden).write_bytes((photos / "red" / "red_0.png").read_bytes())
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(
        photos / "blue" / "a" / "b" / "kept.png")
    before = snapshot(photos)
    data = load(photos).train
    assert data.class_counts() == {"blue": 4, "red": 3}
    assert all("/." not in e.source for e in data.examples)
    assert [str(p) for p in data.problems] == [
        f"{photos / 'green'}: the class folder is empty, so class 'green' is left out; add examples to it or "
        "remove the folder (skipped)"]
    assert snapshot(photos) == before


def test_a_class_none_of_whose_files_can_be_used_is_said_to_be_left_out(tmp_path: Path) -> None:
    photos = write_images(tmp_path / "photos", per_class=3)
    (photos / "wasps").mkdir()
    (photos / "wasps" / "w1.jpg").write_text("not a photo")
    (photos / "wasps" / "w2.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    (photos / "bees").mkdir()
    (photos / "bees" / "b1.jpg").write_text("not a photo either")
    (photos / "bees" / "b2.png").write_bytes((photos / "red" / "red_0.png").read_bytes())  # one usable: no word
    data = load(photos).train
    assert data.class_counts() == {"bees": 1, "blue": 3, "red": 3}
    said = [str(p) for p in data.problems if "none of its" in str(p)]
    assert said == [f"{photos / 'wasps'}: none of its 2 file(s) could be used (see their messages), so class 'wasps' "
                    "is left out; replace them or remove the class (skipped)"]
    listed = from_inputs([str(photos / "wasps" / "w1.jpg"), str(photos / "red" / "red_0.png"),
                          str(photos / "blue" / "blue_0.png")], ["wasps", "red", "blue"], "image")
    assert "class 'wasps': none of its 1 file(s) could be used" in [str(p) for p in listed.problems][-1]


def test_unreadable_files_and_folders_are_named_and_skipped(tmp_path: Path, unreadable) -> None:  # type: ignore[no-untyped-def]
    photos = write_images(tmp_path / "photos", per_class=3)
    (photos / "red" / "locked").mkdir()
    Image.new("RGB", (8, 8)).save(photos / "red" / "locked" / "in.png")
    unreadable(photos / "red" / "red_1.png")
    unreadable(photos / "red" / "locked")
    data = load(photos).train
    assert data.class_counts() == {"blue": 3, "red": 2}
    messages = {p.where: p.message for p in data.problems}
    assert messages[str(photos / "red" / "red_1.png")].startswith("cannot read the file: permission denied")
    assert "the folder cannot be read (permission denied)" in messages[str(photos / "red" / "locked")]


def test_unreadable_table_is_a_clear_error(tmp_path: Path, unreadable) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "t.csv"
    path.write_text("text,label\na,b\n", encoding="utf-8")
    unreadable(path)
    with pytest.raises(ValueError, match=r"t\.csv cannot be read: permission denied"):
        load(path)


def test_excel_sep_hint_line_names_the_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_text('sep=;\ntext;label\n"good, fine";pos\nbad;neg\n;pos\n', encoding="utf-8")
    data = load(path).train
    assert [e.text for e in data.examples] == ["good, fine", "bad"]
    assert [str(p) for p in data.problems] == [f"{path}, line 5: the text is empty (skipped)"]
