"""The model registry: versions, promotion, rollback, deletion, concurrent writers, crash leftovers, `handful update`
and the server picking up a newly promoted version. Tiny backbones; real SQLite, real processes, real files."""

from __future__ import annotations

import csv
import io
import json
import logging
import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from safetensors import safe_open
from typer.testing import CliRunner

import handful
from handful.artifacts import ModelFileError
from handful.artifacts.store import DATABASE, INCOMING, Registry, check_name, parse_version
from handful.cli import app
from handful.serve import create_app
from handful.serve.live import RegistryModels
from handful.versions import behind
from tests.conftest import write_images

runner = CliRunner()
QUICK = {"preset": "fast", "backbone": "tiny-image", "random_state": 0, "verbose": 0, "cv_folds": 2, "cv_repeats": 1}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small trained model folder, copied in as each registered version."""
    base = tmp_path_factory.mktemp("registry")
    return handful.Classifier(cache_dir=False, **QUICK).fit(write_images(base / "photos", per_class=4)).save(
        base / "model")


def copier(source: Path):  # noqa: ANN201 - a writer for Registry.add
    return lambda target: shutil.copytree(source, target)


def test_versions_promotion_rollback_and_exact_errors(tmp_path: Path, saved: Path) -> None:
    registry = Registry(tmp_path / "models", create=True)
    first = registry.add("colours", copier(saved))
    second = registry.add("colours", copier(saved))
    assert (first.version, first.status, second.version, second.status) == (1, "production", 2, "ready")
    assert first.path == tmp_path / "models" / "colours" / "v1" and handful.load(first.path).backbone_ == "tiny-image"
    assert first.metrics["backbone"] == "tiny-image" and first.metrics["n_examples"] == 8
    assert len(first.fingerprint) == 64 and first.sources == [str(saved.parent / "photos")]

    assert registry.promote("colours", "v2").promoted and registry.get("colours").version == 2
    registry.add("colours", copier(saved), promote=True)
    assert [v.status for v in registry.versions("colours")] == ["retired", "retired", "production"]
    assert registry.rollback("colours").version == 2
    assert registry.rollback("colours").version == 1  # each rollback goes one further back
    with pytest.raises(ValueError) as error:
        registry.rollback("colours")
    assert str(error.value) == ("colours has no earlier promoted version to roll back to (v1 is the only one "
                                "promoted so far).")

    with pytest.raises(ValueError) as error:
        registry.get("shapes")
    assert str(error.value) == f"no model named 'shapes' in {tmp_path / 'models'}; registered: colours."
    with pytest.raises(ValueError) as error:
        registry.get("colours", 9)
    assert str(error.value) == "colours has no version v9; its versions are v1, v2, v3."
    with pytest.raises(ValueError, match=r"^a version looks like v3 or 3, got 'latest'\.$"):
        parse_version("latest")
    with pytest.raises(ValueError, match="model name '../x' is not valid"):
        check_name("../x")
    with pytest.raises(ValueError, match="is not a handful model registry"):
        Registry(tmp_path / "elsewhere")
    shutil.copytree(saved, tmp_path / "models" / "plain")  # a model saved with -o into the root: never written into
    with pytest.raises(ValueError) as error:
        registry.add("plain", copier(saved))
    assert str(error.value) == (f"{tmp_path / 'models' / 'plain'} is a model folder saved outside the registry; "
                                "register under another name, or move that folder out of the registry root.")


def test_delete_guards_the_promoted_version_and_removes_only_its_folder(tmp_path: Path, saved: Path) -> None:
    registry = Registry(tmp_path, create=True)
    for _ in range(3):
        registry.add("colours", copier(saved))
    registry.promote("colours", 3)
    with pytest.raises(ValueError) as error:
        registry.delete("colours", "v3")
    assert str(error.value) == ("colours v3 is the promoted version; promote another version first "
                                "(handful models promote colours VERSION), or pass --force.")
    assert registry.delete("colours", 2).version == 3  # not the promoted one: allowed, v3 still promoted
    assert not (tmp_path / "colours" / "v2").exists()
    after = registry.delete("colours", 3, force=True)
    assert after is not None and after.version == 1 and after.promoted  # back to the one promoted before
    assert registry.delete("colours", 1) is None  # the last version may go
    assert registry.names() == [] and not (tmp_path / "colours" / "v1").exists()
    assert saved.joinpath("manifest.json").exists()  # the source of the copies is untouched


def test_failed_write_registers_nothing_and_crash_leftovers_are_skipped(tmp_path: Path, saved: Path) -> None:
    registry = Registry(tmp_path, create=True)
    registry.add("colours", copier(saved))

    def broken(target: Path) -> None:
        shutil.copytree(saved, target)
        (target / "head.safetensors").write_bytes(b"half a file")

    with pytest.raises(ModelFileError, match="does not match its checksum"):
        registry.add("colours", broken)
    assert [v.version for v in registry.versions()] == [1] and not any((tmp_path / INCOMING).iterdir())

    # What a kill -9 can leave: a staging folder of a dead writer, and a version folder renamed but never recorded.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    shutil.copytree(saved, tmp_path / INCOMING / f"{dead.pid}-abcdef")
    shutil.copytree(saved, tmp_path / "colours" / "v2")
    assert registry.orphans() == [tmp_path / "colours" / "v2"]
    third = registry.add("colours", copier(saved))
    assert third.version == 3 and not (tmp_path / INCOMING / f"{dead.pid}-abcdef").exists()
    assert [v.version for v in registry.versions()] == [1, 3] and registry.get("colours").version == 1


def _add_in_process(root: str, source: str, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put(Registry(root, create=True).add("colours", copier(Path(source))).version)


def test_parallel_writers_get_distinct_versions(tmp_path: Path, saved: Path) -> None:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=_add_in_process, args=(str(tmp_path), str(saved), queue)) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    versions = sorted(queue.get(timeout=5) for _ in workers)
    assert versions == [1, 2, 3, 4, 5, 6]
    registry = Registry(tmp_path)
    assert [v.status for v in registry.versions()].count("production") == 1
    assert sorted(p.name for p in (tmp_path / "colours").iterdir()) == [f"v{i}" for i in range(1, 7)]
    with sqlite3.connect(tmp_path / DATABASE) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# ---------------------------------------------------------------------- the CLI
def flipped(folder: Path, per_class: int, seed: int) -> Path:
    """Images whose labels are wrong: red squares filed under 'blue' and blue ones under 'red'."""
    write_images(folder, per_class=per_class, seed=seed)
    (folder / "red").rename(folder / "tmp")
    (folder / "blue").rename(folder / "red")
    (folder / "tmp").rename(folder / "blue")
    return folder


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def train(data: Path, root: Path, name: str = "colours") -> None:
    code, output = cli("train", str(data), "--name", name, "--root", str(root), "--backbone", "tiny-image",
                       "--preset", "fast", "-q")
    assert code == 0, output


def register(data: Path, root: Path) -> None:
    """Train through the Python API with few folds (an update reuses them) and register the model as colours v1."""
    clf = handful.Classifier(**{**QUICK, "cv_folds": 3, "cv_repeats": 2}).fit(data)
    Registry(root, create=True).add("colours", clf.save)


def shards(cache: Path) -> set[Path]:
    return set(cache.glob("features/*/*.safetensors"))


def test_update_promotes_good_data_and_embeds_only_the_new_files(tmp_path: Path) -> None:
    cache = Path(os.environ["HANDFUL_CACHE_DIR"])
    root = tmp_path / "models"
    register(write_images(tmp_path / "old", per_class=6, seed=0), root)
    before = shards(cache)
    new = write_images(tmp_path / "new", per_class=3, seed=1)
    code, output = cli("update", "colours", str(new), "--root", str(root))
    assert code == 0, output
    assert "promoted: the new version is not worse than the promoted one" in output
    registry = Registry(root)
    version = registry.get("colours")
    assert version.version == 2 and version.sources == [str(tmp_path / "old"), str(tmp_path / "new")]
    assert version.metrics["n_examples"] == 18 and version.comparison is not None
    assert version.comparison["n_old"] == 12 and version.comparison["n_new"] == 6
    assert version.comparison["new_classes"] == {} and "New class" not in output
    assert len(version.comparison["difference"]) == version.comparison["n_folds"]
    narrowed = behind(handful.load(registry.get("colours", 1).path), 18)  # counted from the last full search
    assert version.comparison["full_search_n"] == (12 if narrowed else 18)

    # Only the new files were embedded: the shards written by the update hold exactly their digests, per backbone.
    new_digests = {e.digest for e in handful.data.load(new).train.examples}
    for shard in shards(cache) - before:
        with safe_open(str(shard), framework="numpy") as handle:
            assert set(handle.keys()) <= new_digests
    embedded = {}
    for shard in shards(cache) - before:
        with safe_open(str(shard), framework="numpy") as handle:
            embedded.setdefault(shard.parent.name, set()).update(handle.keys())
    assert embedded and all(found == new_digests for found in embedded.values())

    report = handful.load(version.path).report_.html()
    assert "Old vs new" in report and "Promoted." in report and "promoted before (v1)" in report


def test_update_refuses_data_that_makes_the_model_worse(tmp_path: Path) -> None:
    root = tmp_path / "models"
    register(write_images(tmp_path / "old", per_class=6, seed=0), root)
    code, output = cli("update", "colours", str(flipped(tmp_path / "wrong", 10, seed=2)), "--root", str(root))
    assert code == 3, output
    assert "not promoted: the new version scores worse than the promoted one" in output
    registry = Registry(root)
    assert registry.get("colours").version == 1  # the old version keeps serving
    refused = registry.get("colours", 2)
    assert refused.status == "refused" and refused.comparison is not None
    assert refused.comparison["mean_difference"] < -refused.comparison["standard_error"]
    report = handful.load(refused.path).report_.html()
    assert "Not promoted." in report


def test_update_compares_a_fine_tuned_version_on_the_same_folds(tmp_path: Path) -> None:
    root = tmp_path / "models"
    clf = handful.Classifier(**{**QUICK, "cv_folds": 3, "cv_repeats": 1, "learners": ["finetune"]}).fit(
        write_images(tmp_path / "old", per_class=6, seed=0))
    assert clf.learner_ == "finetune" and clf.backbone_ == "tiny-image:trunk"
    Registry(root, create=True).add("colours", clf.save)
    code, output = cli("update", "colours", str(write_images(tmp_path / "new", per_class=3, seed=1)), "--root",
                       str(root))
    assert code in (0, 3), output
    version = Registry(root).get("colours", 2)
    assert version.comparison is not None and len(version.comparison["difference"]) == 3


def test_update_names_a_class_the_old_version_did_not_have(tmp_path: Path) -> None:
    root = tmp_path / "models"
    register(write_images(tmp_path / "old", per_class=6, seed=0), root)
    new = write_images(tmp_path / "new", per_class=2, seed=1)
    write_images(tmp_path / "more", per_class=3, seed=2)
    shutil.move(tmp_path / "more" / "blue", new / "green")  # a third class the old version never saw
    code, output = cli("update", "colours", str(new), "--root", str(root))
    assert code in (0, 3), output  # the comparison reads the old examples; its verdict is not what this tests
    added = Registry(root).get("colours", 2).comparison["new_classes"]
    assert list(added) == ["green"] and added["green"]["examples"] == 3 and 0 <= added["green"]["recall"] <= 1
    assert ("New class: 'green' (3 examples, recognised" in " ".join(output.split())
            and "The old version could not predict it" in " ".join(output.split()))
    page = handful.load(Registry(root).get("colours", 2).path).report_.html()
    assert "New class: &#x27;green&#x27; (3 examples, recognised" in page  # the report says it too


def test_an_update_whose_held_out_photos_are_all_training_copies_goes_on_unscored(tmp_path: Path) -> None:
    root = tmp_path / "models"
    for name, seed in (("old", 0), ("new", 1)):  # each a train/ + val/ split whose val/ leaked whole
        write_images(tmp_path / name / "train", per_class=6 if name == "old" else 3, seed=seed)
        shutil.copytree(tmp_path / name / "train", tmp_path / name / "val")
    register(tmp_path / "old", root)
    code, output = cli("update", "colours", str(tmp_path / "new"), "--root", str(root))
    assert code in (0, 3), output  # registered either way: the held-out set was not what stopped it
    assert "the held-out set was not scored: all 18 examples in" in " ".join(output.split())
    assert Registry(root).get("colours", 2).metrics["n_examples"] == 18


def test_update_says_when_the_old_data_is_gone(tmp_path: Path) -> None:
    root = tmp_path / "models"
    old = write_images(tmp_path / "old", per_class=4)
    register(old, root)
    shutil.rmtree(old)
    code, output = cli("update", "colours", str(write_images(tmp_path / "new", per_class=2)), "--root", str(root))
    assert code == 1
    assert (f"error: the training data of colours v1 is gone: {old} does not exist. Restore it there, or train a "
            "new version from all of it with: handful train DATA --name colours") in output


def test_update_refuses_labels_spelt_unlike_the_models_classes(tmp_path: Path) -> None:
    root = tmp_path / "models"
    register(write_images(tmp_path / "old", per_class=4), root)
    new = write_images(tmp_path / "new", per_class=2, seed=1)
    (new / "red").rename(new / "Red")
    code, output = cli("update", "colours", str(new), "--root", str(root))
    assert code == 1
    assert ("has labels that differ from colours v1's classes only in case or spacing ('Red' for 'red'): give them "
            "the model's spelling and update again.") in " ".join(output.split())
    assert Registry(root).get("colours").version == 1 and len(Registry(root).versions("colours")) == 1


def test_models_commands(tmp_path: Path, saved: Path) -> None:
    root = tmp_path / "models"
    data = write_images(tmp_path / "photos", per_class=4)
    train(data, root)
    train(data, root)
    code, output = cli("models", "list", "--root", str(root), "--json")
    assert code == 0 and [(v["version"], v["status"]) for v in json.loads(output)] == [(1, "production"),
                                                                                         (2, "ready")]
    train(data, root, "household-colours")
    code, output = cli("models", "list", "--root", str(root))  # 80 columns: names and statuses whole
    rows = [line.split()[:3] for line in output.splitlines() if "colours" in line]
    assert code == 0 and rows == [["colours", "v1", "production"], ["colours", "v2", "ready"],
                                  ["household-colours", "v1", "production"]]
    assert max(len(line) for line in output.splitlines()) <= 80 and "…" not in output
    code, output = cli("models", "promote", "colours", "v2", "--root", str(root))
    assert code == 0 and "colours v2 is now the promoted version." in output
    code, output = cli("models", "show", "colours", "--root", str(root), "--json")
    shown = json.loads(output)
    assert shown["version"] == 2 and [h["version"] for h in shown["history"]] == [1, 2]
    code, output = cli("models", "list", "colours", "--root", str(root), "--format", "csv")
    listed = list(csv.DictReader(io.StringIO(output)))
    assert code == 0 and [(r["version"], r["status"], r["promoted"]) for r in listed] == [
        ("1", "retired", "False"), ("2", "production", "True")]
    assert all(float(r["cv_low"]) <= float(r["cv_balanced_accuracy"]) <= float(r["cv_high"]) for r in listed)
    code, output = cli("models", "show", "colours", "--root", str(root), "--format", "csv")
    assert code == 0 and list(csv.DictReader(io.StringIO(output))) == listed[1:]  # the promoted one, as listed
    code, output = cli("models", "delete", "colours", "2", "--root", str(root))
    assert code == 1 and "error: colours v2 is the promoted version; promote another version first" in output
    code, output = cli("models", "rollback", "colours", "--root", str(root))
    assert code == 0 and "Rolled back: colours v1 is the promoted version again." in output
    code, output = cli("models", "delete", "colours", "2", "--root", str(root))
    assert code == 0 and "Deleted colours v2. colours v1 is the promoted version." in output
    code, output = cli("models", "show", "shapes", "--root", str(root))
    assert code == 1 and (f"error: no model named 'shapes' in {root.resolve()}; registered: colours, "
                          "household-colours.") in output
    code, output = cli("train", str(data), "--name", "colours", "-o", str(tmp_path / "m"))
    assert code == 2 and "give --output (a plain model folder) or --name (a version in the registry), not both." \
        in output
    code, output = cli("models", "list", "--root", str(tmp_path / "nothing"))
    assert code == 1 and "is not a handful model registry" in output


def test_root_defaults_to_handful_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDFUL_HOME", str(tmp_path / "home"))
    code, output = cli("train", str(write_images(tmp_path / "photos", per_class=4)), "--name", "colours",
                       "--backbone", "tiny-image", "--preset", "fast", "-q")
    assert code == 0, output
    assert Registry(tmp_path / "home").get("colours").version == 1


# ---------------------------------------------------------------------- serving
@pytest.fixture
def served_root(tmp_path: Path, saved: Path) -> Iterator[tuple[Registry, RegistryModels]]:
    registry = Registry(tmp_path, create=True)
    registry.add("colours", copier(saved))
    registry.add("colours", copier(saved))
    yield registry, RegistryModels(tmp_path, interval=0.0)


def test_server_picks_up_promotions_without_restart(served_root: tuple[Registry, RegistryModels],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    registry, models = served_root
    with TestClient(create_app(models)) as client:
        def served() -> str:
            return client.get("/v1/models/colours").json()["version"]

        assert served() == "v1"
        registry.promote("colours", 2)
        assert served() == "v2"
        registry.rollback("colours")
        assert served() == "v1"

        broken = registry.add("colours", copier(registry.get("colours", 2).path))
        (broken.path / "head.safetensors").write_bytes(b"damaged after registration")
        registry.promote("colours", broken.version)
        with caplog.at_level(logging.ERROR, logger="handful.serve.live"):
            assert served() == "v1"  # the damaged version is not served; the old one keeps serving
        assert "cannot load colours v3" in caplog.text and "v1 keeps serving" in caplog.text
        assert client.get("/healthz").json()["models"] == 1

        registry.add("shapes", copier(registry.get("colours", 2).path))
        assert sorted(m["name"] for m in client.get("/v1/models").json()["models"]) == ["colours", "shapes"]
        registry.delete("shapes", 1)
        assert client.get("/v1/models/shapes").status_code == 404


def test_serving_a_plain_model_folder_still_works(saved: Path) -> None:
    with TestClient(create_app(saved)) as client:
        card = client.get("/v1/models/model").json()
        assert card["version"] is None and card["backbone"] == "tiny-image"


def test_update_keeps_groups_and_refits_calibration_sets_and_flag(tmp_path: Path) -> None:
    root = tmp_path / "models"
    clf = handful.Classifier(**{**QUICK, "cv_folds": 3, "cv_repeats": 2}).fit(
        write_images(tmp_path / "old", per_class=6, seed=0), groups=r"_(?P<group>\d)\.png$")
    Registry(root, create=True).add("colours", clf.save)
    code, output = cli("update", "colours", str(write_images(tmp_path / "new", per_class=3, seed=1)),
                       "--root", str(root))
    assert code == 0, output
    updated = handful.load(Registry(root).get("colours").path)
    assert updated.protocol_ is not None and updated.protocol_["text"] == "grouped 3-fold, 2 repeats, 6 groups"
    assert updated.protocol_["pattern"] == r"_(?P<group>\d)\.png$"
    assert updated.groups_ is not None and len(updated.groups_) == 18
    assert updated.trust_ is not None and updated.trust_.ood is not None
    assert len(updated.trust_.ood.reference) == 18  # the detector knows the new examples too
    assert sum(len(s) for s in updated.trust_.sets.scores) == 18 * 2  # one score per (fold, example): 2 repeats


def test_update_learns_from_the_old_versions_unlabelled_pool_and_the_new_datas(tmp_path: Path) -> None:
    root = tmp_path / "models"
    given = write_images(tmp_path / "pile", per_class=5, seed=3)  # 10 photos, given with --unlabelled
    old = write_images(tmp_path / "old", per_class=6, seed=0)
    shutil.copytree(write_images(tmp_path / "beside", per_class=2, seed=4), old / "unlabelled")  # 4 in the data
    clf = handful.Classifier(**{**QUICK, "cv_folds": 3, "cv_repeats": 1}).fit(old, unlabelled=given)
    assert clf.unlabelled_ is not None and clf.unlabelled_["used"] == 14
    Registry(root, create=True).add("colours", clf.save)
    new = write_images(tmp_path / "new", per_class=3, seed=1)
    shutil.copytree(write_images(tmp_path / "more", per_class=1, seed=5), new / "unlabelled")  # 2 more
    code, output = cli("update", "colours", str(new), "--root", str(root))
    assert code in (0, 3), output
    updated = handful.load(Registry(root).get("colours", 2).path)
    assert updated.unlabelled_ is not None and updated.unlabelled_["used"] == 16
    assert updated.unlabelled_sources_ == [str(given.resolve())]

    shutil.rmtree(given)  # a given pool that is gone is said; the update goes on with the rest
    code, output = cli("update", "colours", str(write_images(tmp_path / "newer", per_class=2, seed=6)),
                       "--root", str(root))
    assert code in (0, 3), output
    latest = handful.load(Registry(root).get("colours", 3).path)
    assert latest.unlabelled_ is not None and latest.unlabelled_["used"] == 6
    assert latest.unlabelled_sources_ == []


def test_candidates_found_behind_are_listed_as_not_tried(tmp_path: Path) -> None:
    from handful.selection.plan import NOT_AGAIN

    photos = write_images(tmp_path / "photos", per_class=6)
    clf = handful.Classifier(**QUICK).fit(photos, behind={("tiny-image", "prototypes", ""),
                                                          ("colour-thumbnail", "linear", "")})
    rows = {(r["backbone"], r["learner"]): r for r in clf.leaderboard_}
    assert rows[("tiny-image", "linear")]["status"] == "ok"
    assert rows[("tiny-image", "prototypes")]["status"] == "skipped"
    assert rows[("tiny-image", "prototypes")]["message"] == NOT_AGAIN
    assert [r["status"] for r in clf.leaderboard_ if r["kind"] == "baseline"] == ["ok"]  # the baseline always runs


def test_an_update_skips_what_the_old_search_planned_and_did_not_score(tmp_path: Path) -> None:
    old = handful.Classifier(**{**QUICK, "learners": ["linear", "prototypes", "mlp"]}).fit(
        write_images(tmp_path / "old", per_class=6))
    scored = {(r["backbone"], r["learner"]) for r in old.leaderboard_ if r["status"] == "ok"}
    old.leaderboard_ = [r for r in old.leaderboard_ if r["learner"] != "mlp"]  # as if left off the leaderboard
    old.leaderboard_ += [{**r, "status": "stopped"} for r in old.leaderboard_ if r["learner"] == "prototypes"]
    old.leaderboard_ = [r for r in old.leaderboard_ if not (r["learner"] == "prototypes" and r["status"] == "ok")]
    old.n_examples_ = 100
    found = behind(old, 110)
    assert ("tiny-image", "mlp", "") in found and ("tiny-image", "prototypes", "") in found
    assert ("tiny-image", "linear", "") not in found and ("tiny-image", "linear") in scored
    assert not any(b == "colour-thumbnail" for b, _, _ in found)  # the baseline always runs
    assert behind(old, 160) == set()  # much more data: every candidate again
    old.update_ = {"full_search_n": 80}  # a string of small updates since a full search on 80 examples
    assert behind(old, 110) == found and behind(old, 121) == set()
