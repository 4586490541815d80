"""Data in: folders, tables, validation, and the promise that user files are only read."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from handful.data import BadInputError, from_inputs, load, load_image
from handful.data.checks import check_trainable
from handful.data.decode import MAX_IMAGE_PIXELS, decode_audio, read_bytes
from tests.conftest import NEGATIVE, POSITIVE, write_csv, write_images, write_tones


def snapshot(folder: Path) -> dict[str, tuple[str, float]]:
    return {str(p): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_class_folders_give_labels_and_infer_image(image_folder: Path) -> None:
    data = load(image_folder)
    assert data.holdout is None
    assert data.train.modality == "image"
    assert data.train.class_counts() == {"blue": 8, "red": 8}
    assert data.train.problems == []


def test_train_val_layout_is_recognised(tmp_path: Path) -> None:
    write_images(tmp_path / "set" / "train", per_class=4)
    write_images(tmp_path / "set" / "val", per_class=2, seed=1)
    data = load(tmp_path / "set")
    assert len(data.train) == 8 and data.holdout is not None and len(data.holdout) == 4


def test_a_test_folder_beside_val_is_left_alone_and_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_images(tmp_path / "set" / "train", per_class=4)
    write_images(tmp_path / "set" / "val", per_class=2, seed=1)
    write_images(tmp_path / "set" / "test", per_class=3, seed=2)
    with caplog.at_level(logging.WARNING):
        data = load(tmp_path / "set")
    assert data.holdout is not None and len(data.holdout) == 4  # val/ is scored with the model
    assert (f"{tmp_path / 'set' / 'val'} is scored as the held-out set; {tmp_path / 'set' / 'test'} is left alone "
            f"(score the model on it with: handful evaluate MODEL {tmp_path / 'set' / 'test'})") in caplog.text


def test_audio_folder_inferred(audio_folder: Path) -> None:
    data = load(audio_folder)
    assert data.train.modality == "audio" and data.train.classes == ["high", "low"]


def test_corrupt_and_empty_files_are_skipped_and_named(image_folder: Path) -> None:
    (image_folder / "red" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    (image_folder / "blue" / "empty.png").write_bytes(b"")
    (image_folder / "blue" / "notes.txt").write_text("hello")
    (image_folder / "blue" / "words.png").write_text("hello")  # PIL names its in-memory buffer, not the file
    data = load(image_folder).train
    assert len(data) == 16
    where = {Path(p.where).name: p.message for p in data.problems}
    assert "not a readable image" in where["broken.jpg"]
    assert "copy it again from its source" in where["broken.jpg"]
    assert "in no image format handful reads" in where["words.png"] and " at 0x" not in where["words.png"]
    assert where["empty.png"] == "the file is empty (0 bytes)"
    assert ".txt is not a supported image type (.avif, .bmp, .gif, .heic, .heif, .jpeg, .jpg, .png" in where[
        "notes.txt"]


def test_what_file_managers_and_zip_tools_leave_behind_is_no_class_nor_example(image_folder: Path) -> None:
    (image_folder / "__MACOSX" / "red").mkdir(parents=True)
    (image_folder / "__MACOSX" / "red" / "._red_0.png").write_bytes(b"\x00\x05\x16\x07")
    (image_folder / "red" / "._red_0.png").write_bytes(b"\x00\x05\x16\x07")
    (image_folder / "blue" / "Thumbs.db").write_bytes(b"thumbs")
    (image_folder / "blue" / "desktop.ini").write_text("[.ShellClassInfo]")
    (image_folder / ".DS_Store").write_bytes(b"junk")
    data = load(image_folder).train
    assert data.class_counts() == {"blue": 8, "red": 8} and data.problems == []


def test_identical_file_under_two_labels_is_flagged(image_folder: Path) -> None:
    (image_folder / "blue" / "copy.png").write_bytes((image_folder / "red" / "red_0.png").read_bytes())
    data = load(image_folder).train
    conflicts = [p for p in data.problems if "check the label" in p.message]
    assert len(conflicts) == 1 and conflicts[0].action == "kept"
    assert "labelled 'blue' while this is 'red'" in conflicts[0].message or "labelled 'red'" in conflicts[0].message


def test_user_files_are_never_modified(image_folder: Path) -> None:
    (image_folder / "red" / "broken.jpg").write_bytes(b"garbage")
    before = snapshot(image_folder)
    load(image_folder)
    assert snapshot(image_folder) == before


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "LA", "I;16"])
def test_image_modes_become_rgb(tmp_path: Path, mode: str) -> None:
    path = tmp_path / ("x.tif" if mode in ("CMYK", "I;16") else "x.png")
    Image.new(mode, (10, 12)).save(path)
    image = load_image(path)
    assert image.mode == "RGB" and image.size == (10, 12)


def test_gif_first_frame_and_transparency_on_white(tmp_path: Path) -> None:
    frames = [Image.new("P", (8, 8), 0), Image.new("P", (8, 8), 1)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], transparency=0)
    image = load_image(tmp_path / "a.gif")
    assert image.mode == "RGB" and image.getpixel((0, 0)) == (255, 255, 255)


def test_an_avif_photo_is_read_beside_the_others(image_folder: Path) -> None:
    # AVIF: what recent phones and web pages save; Pillow reads it, and the folder scan once skipped it unnamed
    stripes = np.full((48, 64, 3), (200, 30, 30), np.uint8)
    stripes[:, ::8] = 255
    Image.fromarray(stripes).save(image_folder / "red" / "web.avif", quality=90)
    data = load(image_folder).train
    assert data.class_counts() == {"blue": 8, "red": 9} and data.problems == []
    red = np.asarray(load_image(image_folder / "red" / "web.avif"))[24, 4]
    assert red[0] > 150 and red[1] < 80


def test_a_phone_cameras_heic_photo_is_read_beside_the_others(image_folder: Path) -> None:
    heic = Path(__file__).parents[1] / "fixtures" / "red_stripes.heic"  # 64x48, red with white stripes every 8 px
    (image_folder / "red" / "phone.HEIC").write_bytes(heic.read_bytes())
    data = load(image_folder).train
    assert data.class_counts() == {"blue": 8, "red": 9} and data.problems == []
    image = load_image(image_folder / "red" / "phone.HEIC")
    assert image.size == (64, 48) and image.mode == "RGB"
    red, white = np.asarray(image)[24, 4], np.asarray(image)[24, 0]
    assert red[0] > 150 and red[1] < 80 and min(white) > 200


def test_exif_rotation_is_applied(tmp_path: Path) -> None:
    image = Image.new("RGB", (30, 10), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    image.save(tmp_path / "r.jpg", exif=exif)
    assert load_image(tmp_path / "r.jpg").size == (10, 30)


def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    side = int(np.sqrt(MAX_IMAGE_PIXELS)) + 100
    Image.new("1", (side, side)).save(tmp_path / "bomb.png")  # a few KB on disk, huge when decoded
    with pytest.raises(BadInputError, match="decompression bomb"):
        load_image(tmp_path / "bomb.png")


def test_audio_stereo_becomes_mono(tmp_path: Path) -> None:
    import soundfile

    stereo = np.stack([np.ones(800), -np.ones(800) * 0.5], axis=1).astype(np.float32)
    soundfile.write(tmp_path / "s.flac", stereo, 16000)
    audio = decode_audio(read_bytes(tmp_path / "s.flac"))
    assert audio.samples.ndim == 1 and audio.sample_rate == 16000
    assert np.allclose(audio.samples, 0.25, atol=1e-3)


def test_silent_short_and_flat_inputs_are_kept_and_said(tmp_path: Path) -> None:
    import soundfile

    tones = write_tones(tmp_path / "clips", per_class=3)
    soundfile.write(tones / "low" / "muted.wav", np.zeros(8000, dtype=np.float32), 8000)
    soundfile.write(tones / "high" / "click.wav", np.full(4, 0.5, dtype=np.float32), 8000)
    quiet = 0.5 * np.sin(np.arange(8000) / 3).astype(np.float32) * 10 ** (-70 / 20)  # -76 dBFS: faint, not silent
    soundfile.write(tones / "high" / "faint.wav", quiet, 8000)
    clips = load(tones).train
    assert len(clips) == 9 and all(p.action == "kept" for p in clips.problems)
    assert {Path(p.where).name: p.message.split(" (")[0].split(",")[0] for p in clips.problems} == {
        "muted.wav": "the clip is silent", "click.wav": "the clip lasts 0.5 ms"}

    photos = write_images(tmp_path / "photos", per_class=2)
    Image.new("RGB", (32, 32), (0, 0, 0)).save(photos / "red" / "lens_cap.png")
    Image.new("L", (32, 32), 128).save(photos / "blue" / "grey.png")
    data = load(photos).train
    assert len(data) == 6 and sorted(Path(p.where).name for p in data.problems if "flat colour" in p.message) == [
        "grey.png", "lens_cap.png"]
    assert all(p.action == "kept" for p in data.problems)


def test_a_phones_m4a_voice_memo_is_read_beside_the_others(audio_folder: Path) -> None:
    memo = Path(__file__).parents[1] / "fixtures" / "tone_440hz.m4a"  # AAC in MP4: 0.5 s of 440 Hz at 16 kHz
    audio = decode_audio(memo.read_bytes())
    assert audio.sample_rate == 16000 and 0.5 <= len(audio.samples) / 16000 < 0.7  # the encoder pads a frame
    spectrum = np.abs(np.fft.rfft(audio.samples))
    assert abs(np.argmax(spectrum) * 16000 / len(audio.samples) - 440) < 5
    assert len(decode_audio(memo.read_bytes(), rate=8000).samples) == math.ceil(len(audio.samples) / 2)
    with pytest.raises(BadInputError, match="over the 0.2 s limit"):
        decode_audio(memo.read_bytes(), max_seconds=0.2)
    with pytest.raises(BadInputError, match="not a readable audio file"):
        decode_audio(memo.read_bytes()[:700])
    label = next(p for p in audio_folder.iterdir() if p.is_dir())
    (label / "memo.m4a").write_bytes(memo.read_bytes())
    data = load(audio_folder).train
    assert any(e.source.endswith("memo.m4a") for e in data.examples) and data.problems == []


def test_without_pyav_an_m4a_is_skipped_saying_how_to_read_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "av", None)  # as where handful[aac] is not installed
    memo = Path(__file__).parents[1] / "fixtures" / "tone_440hz.m4a"
    with pytest.raises(BadInputError, match=r"M4A and AAC audio need PyAV.*pip install 'handful\[aac\]'"):
        decode_audio(memo.read_bytes())


def test_a_header_that_promises_more_or_fewer_samples_than_come_gives_just_those_that_came() -> None:
    from handful.data.decode import _Resampler

    fewer = _Resampler(8000, 8000, expected=5)  # a block crosses the promised length: nothing uninitialised shows
    fewer.push(np.ones(3, np.float32))
    fewer.push(np.full(4, 2.0, np.float32))
    assert fewer.finish().tolist() == [1, 1, 1, 2, 2, 2, 2]
    more = _Resampler(8000, 8000, expected=10)
    more.push(np.ones(3, np.float32))
    assert more.finish().tolist() == [1, 1, 1]


def test_truncated_wav_is_reported(tmp_path: Path) -> None:
    folder = write_tones(tmp_path / "clips", per_class=3)
    good = (folder / "low" / "low_0.wav").read_bytes()
    (folder / "low" / "cut.wav").write_bytes(good[:30])
    data = load(folder).train
    assert len(data) == 6
    said = next(p.message for p in data.problems if Path(p.where).name == "cut.wav")
    assert "not a readable audio file" in said and "export it again" in said and " at 0x" not in said


def test_csv_with_bom_and_guessed_columns(tmp_path: Path) -> None:
    data = load(write_csv(tmp_path / "r.csv", bom=True)).train
    assert data.modality == "text" and data.class_counts() == {"neg": 8, "pos": 8}
    assert data.examples[0].text == POSITIVE[0]


def test_tsv_and_jsonl(tmp_path: Path) -> None:
    assert len(load(write_csv(tmp_path / "r.tsv", delimiter="\t")).train) == 16
    lines = [json.dumps({"review": t, "sentiment": "neg"}) for t in NEGATIVE] + [
        json.dumps({"review": t, "sentiment": "pos"}) for t in POSITIVE]
    (tmp_path / "r.jsonl").write_text("\n".join(lines), encoding="utf-8")
    assert load(tmp_path / "r.jsonl").train.class_counts() == {"neg": 8, "pos": 8}
    odd = [json.dumps({"review": "fine", "sentiment": {"score": 1}}), json.dumps({"review": "ok", "sentiment": [1]})]
    (tmp_path / "odd.jsonl").write_text("\n".join(lines + odd), encoding="utf-8")
    data = load(tmp_path / "odd.jsonl").train
    assert data.class_counts() == {"neg": 8, "pos": 8}  # an object or a list is no class: "{'score': 1}" was one
    assert [str(p) for p in data.problems] == [
        f"{tmp_path / 'odd.jsonl'}, line 17: the label is a JSON object; give one string or number (skipped)",
        f"{tmp_path / 'odd.jsonl'}, line 18: the label is a JSON list; give one string or number (skipped)"]


def test_unknown_columns_error_names_the_flag(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"cannot tell which column holds the text; columns are \['a', 'b', 'c'\]"):
        load(tmp_path / "t.csv")
    with pytest.raises(ValueError, match="has no column 'words'"):
        load(tmp_path / "t.csv", text_column="words")


def test_empty_rows_are_reported_by_row_number(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("text,label\ngood film,pos\n,neg\nbad film,\n", encoding="utf-8")
    data = load(tmp_path / "t.csv").train
    assert len(data) == 1
    assert [str(p) for p in data.problems] == [
        f"{tmp_path / 't.csv'}, line 3: the text is empty (skipped)",
        f"{tmp_path / 't.csv'}, line 4: the label is empty, so the row counts as unlabelled and is left out of "
        "training (it joins the unlabelled pool); give it a label to train on it (kept)",
    ]


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_with_a_byte_order_mark_is_read_like_utf8(tmp_path: Path, encoding: str) -> None:
    text = write_csv(tmp_path / "r.tsv", delimiter="\t").read_text(encoding="utf-8") + "café crème\tpos\n"
    exported = tmp_path / "export.tsv"  # what Excel's "Unicode Text" and analytics exports write
    exported.write_bytes("\ufeff".encode(encoding) + text.encode(encoding))
    as_utf16, as_utf8 = load(exported).train, load(tmp_path / "r.tsv").train
    assert [e.text for e in as_utf16.examples][:16] == [e.text for e in as_utf8.examples]
    assert as_utf16.labels[:16] == as_utf8.labels and as_utf16.examples[0].text == as_utf8.examples[0].text
    assert not as_utf16.examples[0].text.startswith("\ufeff") and as_utf16.examples[-1].text == "café crème"
    broken = tmp_path / "broken.tsv"
    broken.write_bytes(exported.read_bytes() + b"x")  # an odd byte at the end: cut short
    with pytest.raises(ValueError, match="is not UTF-16 text.*Re-save it as UTF-8"):
        load(broken)


def test_non_utf8_table_says_how_to_fix(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_bytes("text,label\ncaf\xe9,x\n".encode("latin-1"))
    with pytest.raises(ValueError, match="is not UTF-8 text.*Re-save it as UTF-8"):
        load(tmp_path / "t.csv")


def test_missing_path_and_single_file_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load(tmp_path / "nope")
    (tmp_path / "a.jpg").write_bytes(b"x")
    with pytest.raises(ValueError, match="Give a folder with one sub-folder per class"):
        load(tmp_path / "a.jpg")
    (tmp_path / "reviews.xlsx").write_bytes(b"PK\x03\x04")
    with pytest.raises(ValueError, match=r"table with text and label columns \(from a spreadsheet: Save As > CSV"):
        load(tmp_path / "reviews.xlsx")
    for archive, command in (("photos.zip", "unzip photos.zip -d photos"),
                             ("clips.tar.gz", "mkdir clips && tar xf clips.tar.gz -C clips")):
        (tmp_path / archive).write_bytes(b"PK\x03\x04")
        with pytest.raises(ValueError, match=re.escape(f"; it is an archive: unpack it into a folder first ({command}) "
                                                       "and give that folder.")):
            load(tmp_path / archive)


def test_folder_without_class_folders(tmp_path: Path) -> None:
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    with pytest.raises(ValueError, match="holds no files in class sub-folders"):
        load(tmp_path)


def test_from_inputs_rejects_a_bare_string() -> None:
    with pytest.raises(TypeError, match=r"Did you mean \['hello'\]\?"):
        from_inputs("hello", None)


def test_fingerprint_ignores_order_and_names(image_folder: Path) -> None:
    data = load(image_folder).train
    shuffled = data.subset(list(reversed(range(len(data)))))
    assert shuffled.fingerprint() == data.fingerprint()


def test_labels_that_differ_only_in_case_or_spacing_are_told(tmp_path: Path) -> None:
    rows = [f'"{t}",positive' for t in POSITIVE] + [f'"{t}",negative' for t in NEGATIVE] + ['"a joy",Positive ',
                                                                                            '"a gem",positive  ']
    (tmp_path / "t.csv").write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    data = load(tmp_path / "t.csv").train
    assert data.class_counts() == {"Positive": 1, "negative": 8, "positive": 9}  # two classes, as the user wrote
    assert [str(p) for p in data.problems] == [
        f"{tmp_path / 't.csv'}, line 18: the label 'Positive' differs from 'positive' only in case or spacing, so "
        "it is a class of its own (1 example against 9); if they are one class, give them one spelling (kept)"]
    with pytest.raises(ValueError, match="'Positive' and 'positive' differ only in case or spacing: if they are one "
                                         "class, give them one spelling"):
        check_trainable(data, cv_folds=5)


def test_many_one_example_classes_are_refused_without_comparing_every_pair(monkeypatch: pytest.MonkeyPatch) -> None:
    """A table whose every row is a class of its own (an id column given as labels) is refused at once: comparing
    the spellings of every pair of its 10,000 classes took 177 s before the message came."""
    from handful.data import checks
    from handful.data.dataset import Dataset, Example

    calls = 0
    spelling = checks._spelling

    def counted(label: str) -> str:
        nonlocal calls
        calls += 1
        return spelling(label)

    monkeypatch.setattr(checks, "_spelling", counted)
    labels = [f"id-{i}" for i in range(2_000)] + ["Id-7"]
    data = Dataset([Example(f"row {i}", str(i)) for i in range(len(labels))], labels, "text", [])
    with pytest.raises(ValueError, match="'Id-7' and 'id-7' differ only in case or spacing"):
        check_trainable(data, cv_folds=5)
    assert calls <= 3 * len(labels)  # a look-up per class, not one per pair (4,000,000)


def test_class_folders_that_differ_only_in_case_are_told(image_folder: Path) -> None:
    (image_folder / "Red").mkdir()
    for source in sorted((image_folder / "red").iterdir())[:3]:
        (image_folder / "Red" / source.name).write_bytes(source.read_bytes())
    data = load(image_folder).train
    spelling = [str(p) for p in data.problems if "only in case" in p.message]
    assert len(spelling) == 1 and spelling[0].startswith(str(image_folder / "Red"))
    assert "the label 'Red' differs from 'red' only in case or spacing" in spelling[0]
    assert "(3 examples against 8)" in spelling[0]


def test_in_memory_images_are_refused_with_the_fix() -> None:
    stack = np.zeros((4, 8, 8), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"in-memory ndarray objects of shape \(8, 8\); handful reads images and "
                                         r"audio from files: save each one \(PIL.Image.fromarray"):
        from_inputs(stack, [0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"in-memory Image objects;"):
        from_inputs([Image.fromarray(a) for a in stack], None)
    with pytest.raises(ValueError, match=r"shape \(64,\).*for rows of numeric features, use scikit-learn directly"):
        from_inputs(np.zeros((4, 64)), [0, 1, 0, 1])
    assert len(from_inputs(np.array(["good", "bad"]), [1, 0])) == 2  # numpy strings are text


def test_many_problems_are_logged_five_then_counted(image_folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    for index in range(7):
        (image_folder / "red" / f"broken_{index}.jpg").write_bytes(b"not a photo")
    with caplog.at_level(logging.WARNING):
        data = load(image_folder).train
    assert len(data.problems) == 7 and caplog.text.count("not a readable image") == 5
    assert "... and 2 more problems in the data" in caplog.text and "report" not in caplog.text  # only train has one
