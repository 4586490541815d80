"""Seconds per stage: nesting, accumulation, the table, and that nothing records outside a recording."""

from __future__ import annotations

import time

import pytest

from handful import _timing
from handful._timing import paths, recording, stage, table


def test_stages_nest_accumulate_and_stay_off_outside_a_recording() -> None:
    with stage("nothing records this"):
        pass
    assert _timing.current() is None
    with recording() as timings:
        for _ in range(2):
            with stage("embed"), stage("decode"):
                time.sleep(0.01)
        _timing.add("cv a+linear", 1.5)
        with stage("search"):
            _timing.add("cv b+mlp", 2.0)
    assert _timing.current() is None
    assert list(timings.seconds) == ["embed/decode", "embed", "cv a+linear", "search/cv b+mlp", "search"]
    assert timings.seconds["embed"] >= timings.seconds["embed/decode"] >= 0.02
    # CPU seconds are recorded for the same stages (their size is the process's, threads included: not pinned here)
    assert set(timings.cpu) == {"embed", "embed/decode", "search"}
    assert timings.seconds["search/cv b+mlp"] == 2.0
    rows = table(timings.seconds)
    assert [name for name, _, _ in rows][:5] == ["embed", "  decode", "cv a+linear", "search", "  cv b+mlp"]
    total = sum(v for k, v in timings.seconds.items() if "/" not in k)
    assert rows[2][2] is not None and abs(rows[2][2] - 1.5 / total) < 1e-9


def test_time_outside_the_children_is_shown_as_other() -> None:
    rows = table({"search/cv a": 2.0, "search/cv b": 3.0, "search": 9.0, "save": 1.0})
    assert rows == [("search", 9.0, 0.9), ("  cv a", 2.0, 0.2), ("  cv b", 3.0, 0.3), ("  (other)", 4.0, 0.4),
                    ("save", 1.0, 0.1)]
    assert paths(rows) == ["search", "search/cv a", "search/cv b", "search/(other)", "save"]


def test_a_failing_stage_is_still_timed_and_closed() -> None:
    with recording() as timings:
        try:
            with stage("read"):
                raise ValueError("bad file")
        except ValueError:
            pass
        with stage("search"):
            pass
    assert set(timings.seconds) == {"read", "search"}


def test_cross_validation_read_from_the_score_cache_is_not_counted_as_time_spent(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import handful
    from tests.conftest import write_images

    photos = write_images(tmp_path / "photos", per_class=6)
    options = {"backbone": "tiny-image", "learners": ["linear"], "preset": "fast", "verbose": 0,
               "cache_dir": tmp_path / "cache", "random_state": 0}
    first = handful.Classifier(**options).fit(photos)
    again = handful.Classifier(**options).fit(photos)
    assert any(name.endswith("cv tiny-image+linear") for name in first.timings_)
    assert not any("cv tiny-image" in name for name in again.timings_)  # its seconds were spent by the first fit
    assert again.leaderboard_[0]["seconds"] == first.leaderboard_[0]["seconds"]  # the leaderboard keeps its cost


def test_a_finished_status_bar_stands_at_its_total(capsys) -> None:  # type: ignore[no-untyped-def]
    from handful._progress import status_bar

    with status_bar("Scoring candidates", 12, 1, remaining=True) as advance:
        for _ in range(9):  # three planned candidates were not needed (merged, skipped without a report)
            advance(1, "")
    assert "12/12" in capsys.readouterr().err
    with pytest.raises(RuntimeError), status_bar("Scoring candidates", 12, 1) as advance:
        advance(4, "")
        raise RuntimeError("stopped")  # a failure leaves the bar where the work stopped
    assert "4/12" in capsys.readouterr().err
