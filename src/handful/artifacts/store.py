"""The model store (registry): named models with numbered versions under one root folder, and which is promoted.

Layout: ``ROOT/registry.db`` (SQLite) and one model folder per version, ``ROOT/<name>/v<N>/`` (see
:mod:`handful.artifacts.folder`). The database records each version's folder, creation time, metrics, data fingerprint,
data sources and status, which version of each name is promoted (served in production), and the promotion history
that ``rollback`` walks back.

Safety under concurrency and crashes:

* A new version is written completely into ``ROOT/.incoming/`` first, verified, and only then renamed to
  ``ROOT/<name>/v<N>`` and recorded, inside one ``BEGIN IMMEDIATE`` transaction: parallel writers wait for each
  other (WAL journal, busy timeout) and so always get distinct version numbers.
* A process killed mid-train leaves at most a staging folder (removed by the next writer once its process is gone)
  or, if killed between the rename and the commit, a version folder with no row: it is never listed or served,
  and its number is never reused.
* Only folders this registry created are ever removed; data outside the root is never touched.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handful._lists import listed
from handful.artifacts import safety
from handful.artifacts.folder import MANIFEST, ModelFileError, read_model
from handful.artifacts.manifest import summarise

logger = logging.getLogger(__name__)

DATABASE = "registry.db"
INCOMING = ".incoming"
TRASH = ".trash"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 60.0
NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
VERSION = re.compile(r"^[vV]?([1-9][0-9]{0,8})$")
FOLDER = re.compile(r"^v([1-9][0-9]{0,8})$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    path TEXT NOT NULL,
    created TEXT NOT NULL,
    status TEXT NOT NULL,
    metrics TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    sources TEXT NOT NULL,
    comparison TEXT,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS production (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    since TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS promotions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    at TEXT NOT NULL,
    reason TEXT NOT NULL,
    undone INTEGER NOT NULL DEFAULT 0
);
"""

# A version's status: serving now, registered and ready, once served and since replaced, or an update that scored
# worse than the version it was meant to replace (kept for inspection; it can still be promoted by hand).
PRODUCTION, READY, RETIRED, REFUSED = "production", "ready", "retired", "refused"


def default_root() -> Path:
    """Where registered models live unless ``--root`` says otherwise: ``$HANDFUL_HOME``, else ``./models``."""
    return Path(os.environ.get("HANDFUL_HOME") or "models")


def is_registry(path: str | Path) -> bool:
    """Whether ``path`` is a registry root (holds ``registry.db``)."""
    return (Path(path).expanduser() / DATABASE).is_file()


def parse_version(value: str | int) -> int:
    """``"v3"``, ``"3"`` or ``3`` -> 3; anything else is a ValueError saying what is expected."""
    match = VERSION.match(str(value).strip())
    if match is None:
        raise ValueError(f"a version looks like v3 or 3, got {str(value)!r}.")
    return int(match.group(1))


def check_name(name: str) -> str:
    """The model name, if valid: 1-64 letters, digits, '_', '.' or '-', not starting with '.' or '-'."""
    if not isinstance(name, str) or not NAME.match(name):
        raise ValueError(f"model name {name!r} is not valid: use 1-64 letters, digits, '_', '.' and '-', "
                         "starting with a letter, digit or '_'.")
    return name


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Version:
    """One registered version of a named model."""

    name: str
    version: int
    path: Path
    created: str
    status: str
    metrics: dict[str, Any]
    fingerprint: str
    sources: list[str]
    comparison: dict[str, Any] | None

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def promoted(self) -> bool:
        return self.status == PRODUCTION

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "path": str(self.path), "created": self.created,
                "status": self.status, "metrics": self.metrics, "fingerprint": self.fingerprint,
                "sources": self.sources, "comparison": self.comparison}


class Registry:
    """Named, versioned models under ``root``, recorded in ``root/registry.db``.

    Args:
        root: the registry folder.
        create: make the folder and database when missing; otherwise a missing registry is a ValueError.

    Example:
        >>> registry = Registry("models", create=True)  # doctest: +SKIP
        >>> version = registry.add("defects", clf.save)  # doctest: +SKIP
        >>> registry.get("defects").version  # the promoted version  # doctest: +SKIP
        1
    """

    def __init__(self, root: str | Path, create: bool = False) -> None:
        self.root = Path(root).expanduser().resolve()
        self.database = self.root / DATABASE
        if not self.database.is_file():
            if not create:
                raise ValueError(f"{self.root} is not a handful model registry (it has no {DATABASE}). "
                                 f"Register a model there with: handful train DATA --name NAME --root {self.root}")
            if self.root.exists() and not self.root.is_dir():
                raise ValueError(f"{self.root} is a file; a model registry is a folder.")
            if self.root.is_dir() and any(self.root.iterdir()):
                raise ValueError(f"{self.root} is a folder that is not a handful model registry and not empty; a "
                                 "new registry is made only in a new or empty folder, so its housekeeping can never "
                                 "touch other files. Give another --root (e.g. --root models).")
            self.root.mkdir(parents=True, exist_ok=True)
        with self._write() as db:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            found = db.execute("PRAGMA user_version").fetchone()[0]
            if found > SCHEMA_VERSION:
                raise ValueError(f"{self.database} was written by a newer handful (schema {found}); upgrade handful.")
            if found < SCHEMA_VERSION:
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # ------------------------------------------------------------------ connections
    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.database, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        return db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; BEGIN IMMEDIATE takes the write lock at once, so read-then-write cannot race."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        db = self._connect()
        try:
            yield db
        finally:
            db.close()

    def _version(self, row: sqlite3.Row) -> Version:
        if row["path"] != f"{row['name']}/v{row['version']}" or not NAME.match(row["name"]):
            raise ModelFileError(f"{self.database}: the row of {row['name']!r} v{row['version']} points at "
                                 f"{row['path']!r}, not at its own folder in the registry; the database was altered. "
                                 "Restore it from a backup, or delete that row.")
        return Version(row["name"], row["version"], self.root / row["path"], row["created"], row["status"],
                       json.loads(row["metrics"]), row["fingerprint"], json.loads(row["sources"]),
                       json.loads(row["comparison"]) if row["comparison"] else None)

    # ------------------------------------------------------------------ reading
    def names(self) -> list[str]:
        """Every registered model name, sorted."""
        with self._read() as db:
            return [r[0] for r in db.execute("SELECT DISTINCT name FROM versions ORDER BY name")]

    def versions(self, name: str | None = None) -> list[Version]:
        """Registered versions (of ``name``, or of every name), by name then version."""
        with self._read() as db:
            if name is None:
                rows = db.execute("SELECT * FROM versions ORDER BY name, version").fetchall()
            else:
                rows = db.execute("SELECT * FROM versions WHERE name = ? ORDER BY version", (name,)).fetchall()
        return [self._version(r) for r in rows]

    def promoted(self) -> dict[str, Version]:
        """The promoted version of every name that has one: what a server should serve."""
        with self._read() as db:
            rows = db.execute("SELECT v.* FROM versions v JOIN production p ON v.name = p.name "
                              "AND v.version = p.version ORDER BY v.name").fetchall()
        return {r["name"]: self._version(r) for r in rows}

    def get(self, name: str, version: str | int | None = None) -> Version:
        """One version of ``name``: the given one, or the promoted one when ``version`` is None."""
        with self._read() as db:
            return self._get(db, name, version)

    def _get(self, db: sqlite3.Connection, name: str, version: str | int | None) -> Version:
        known = [r[0] for r in db.execute("SELECT version FROM versions WHERE name = ? ORDER BY version", (name,))]
        if not known:
            names = [r[0] for r in db.execute("SELECT DISTINCT name FROM versions ORDER BY name")]
            raise ValueError(f"no model named {name!r} in {self.root}; "
                             + (f"registered: {listed(names, 10)}." if names else "the registry is empty."))
        if version is None:
            found = db.execute("SELECT version FROM production WHERE name = ?", (name,)).fetchone()
            if found is None:
                raise ValueError(f"{name} has no promoted version; promote one with: handful models promote "
                                 f"{name} VERSION")
            number = found[0]
        else:
            number = parse_version(version)
        row = db.execute("SELECT * FROM versions WHERE name = ? AND version = ?", (name, number)).fetchone()
        if row is None:
            raise ValueError(f"{name} has no version v{number}; its versions are "
                             f"{listed([f'v{v}' for v in known], 10)}.")
        return self._version(row)

    def history(self, name: str) -> list[dict[str, Any]]:
        """Promotions of ``name``, oldest first: version, when, why, and whether a rollback undid it."""
        with self._read() as db:
            rows = db.execute("SELECT version, at, reason, undone FROM promotions WHERE name = ? ORDER BY id",
                              (name,)).fetchall()
        return [{"version": r["version"], "at": r["at"], "reason": r["reason"], "undone": bool(r["undone"])}
                for r in rows]

    # ------------------------------------------------------------------ writing
    def add(
        self,
        name: str,
        write: Callable[[Path], Any],
        promote: bool | None = None,
        comparison: dict[str, Any] | None = None,
        reason: str = "",
        replaces: int | None = None,
    ) -> Version:
        """Register a new version of ``name``, written by ``write(folder)`` (e.g. ``clf.save``).

        The folder is written and verified before anything is recorded; then, under the write lock, it takes the
        next version number. ``promote``: True promotes it, False does not, None promotes it only when ``name``
        has no promoted version yet (its first version). With ``replaces``, it is promoted only if that version
        is still the promoted one (another process may have promoted a different one meanwhile). A version added
        with a ``comparison`` that refused it gets the status ``refused``.
        """
        check_name(name)
        if (self.root / name / MANIFEST).is_file():
            raise ValueError(f"{self.root / name} is a model folder saved outside the registry; register under "
                             "another name, or move that folder out of the registry root.")
        home = self.root / name
        if home.exists():
            strays = [p.name for p in sorted(home.iterdir()) if not (FOLDER.match(p.name) and p.is_dir())] \
                if home.is_dir() else [name]
            if strays:
                raise ValueError(f"{self.root / name} holds files the registry did not write ({listed(strays)}); "
                                 "register under another name, or move them out of the registry root.")
        self._sweep()
        staging = self.root / INCOMING / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        staging.parent.mkdir(parents=True, exist_ok=True)
        final: Path | None = None
        try:
            write(staging)
            safety.step("registry:staged")
            manifest, _ = read_model(staging)  # verified: a damaged write is never registered
            metrics = summarise(manifest)
            data = manifest.get("data") or {}
            with self._write() as db:
                number = self._next_number(db, name)
                self._clear_orphans(db, name)
                safety.step("registry:locked")
                final = self.root / name / f"v{number}"
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging, final)
                safety.step("registry:renamed")
                serving = db.execute("SELECT version FROM production WHERE name = ?", (name,)).fetchone()
                first = serving is None
                promoting = first if promote is None else promote
                if promoting and replaces is not None and not first and serving[0] != replaces:
                    promoting = False
                refused = comparison is not None and not comparison.get("promote", True)
                status = PRODUCTION if promoting else (REFUSED if refused else READY)
                db.execute(
                    "INSERT INTO versions (name, version, path, created, status, metrics, fingerprint, sources, "
                    "comparison) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (name, number, f"{name}/v{number}", _now(), status, json.dumps(metrics),
                     str(data.get("fingerprint", "")), json.dumps(data.get("sources") or []),
                     json.dumps(comparison) if comparison is not None else None),
                )
                if promoting:
                    self._promote(db, name, number, reason or ("first version" if first else "promoted when added"))
                version = self._get(db, name, number)
                safety.step("registry:recorded")
            safety.step("registry:committed")
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            if final is not None and final.exists() and not self._recorded(name, final):
                shutil.rmtree(final, ignore_errors=True)  # renamed by us, never committed
            raise
        logger.info("registered %s%s", version.label, " (promoted)" if version.promoted else "")
        return version

    def _recorded(self, name: str, folder: Path) -> bool:
        try:
            with self._read() as db:
                return db.execute("SELECT 1 FROM versions WHERE name = ? AND path = ?",
                                  (name, f"{name}/{folder.name}")).fetchone() is not None
        except sqlite3.Error:
            return True  # when in doubt, keep the folder

    def _clear_orphans(self, db: sqlite3.Connection, name: str) -> None:
        """Remove version folders of ``name`` with no row: with the write lock held, no writer is between its
        rename and its commit, so such a folder was left by a crash (its number is not reused: see below)."""
        recorded = {r[0] for r in db.execute("SELECT version FROM versions WHERE name = ?", (name,))}
        safety.clear_orphans(self.root / name, FOLDER, recorded)

    def _next_number(self, db: sqlite3.Connection, name: str) -> int:
        """One more than any version recorded or left on disk, so a folder orphaned by a crash is never reused."""
        recorded = db.execute("SELECT MAX(version) FROM versions WHERE name = ?", (name,)).fetchone()[0] or 0
        folder = self.root / name
        on_disk = [int(m.group(1)) for p in folder.iterdir() if (m := FOLDER.match(p.name))] if folder.is_dir() else []
        return max([recorded, *on_disk]) + 1

    def _promote(self, db: sqlite3.Connection, name: str, number: int, reason: str) -> None:
        db.execute("UPDATE versions SET status = ? WHERE name = ? AND status = ?", (RETIRED, name, PRODUCTION))
        db.execute("UPDATE versions SET status = ? WHERE name = ? AND version = ?", (PRODUCTION, name, number))
        db.execute("INSERT INTO production (name, version, since) VALUES (?, ?, ?) "
                   "ON CONFLICT(name) DO UPDATE SET version = excluded.version, since = excluded.since",
                   (name, number, _now()))
        db.execute("INSERT INTO promotions (name, version, at, reason) VALUES (?, ?, ?, ?)",
                   (name, number, _now(), reason))

    def promote(self, name: str, version: str | int, reason: str = "promoted by hand") -> Version:
        """Make ``version`` the one served for ``name``."""
        with self._write() as db:
            target = self._get(db, name, version)
            if not target.promoted:
                self._promote(db, name, target.version, reason)
            return self._get(db, name, target.version)

    def rollback(self, name: str) -> Version:
        """Promote again the version that was promoted before the current one (each rollback goes one further)."""
        with self._write() as db:
            current = self._get(db, name, None)
            stack = db.execute("SELECT id, version FROM promotions WHERE name = ? AND undone = 0 ORDER BY id DESC",
                               (name,)).fetchall()
            existing = {r[0] for r in db.execute("SELECT version FROM versions WHERE name = ?", (name,))}
            undo = []
            previous = None
            for row in stack:
                if row["version"] == current.version or row["version"] not in existing:
                    undo.append(row["id"])
                    continue
                previous = row["version"]
                break
            if previous is None:
                raise ValueError(f"{name} has no earlier promoted version to roll back to "
                                 f"(v{current.version} is the only one promoted so far).")
            db.executemany("UPDATE promotions SET undone = 1 WHERE id = ?", [(i,) for i in undo])
            db.execute("UPDATE versions SET status = ? WHERE name = ? AND version = ?",
                       (RETIRED, name, current.version))
            db.execute("UPDATE versions SET status = ? WHERE name = ? AND version = ?", (PRODUCTION, name, previous))
            db.execute("UPDATE production SET version = ?, since = ? WHERE name = ?", (previous, _now(), name))
            return self._get(db, name, previous)

    def delete(self, name: str, version: str | int, force: bool = False) -> Version | None:
        """Remove one version (its row, then its folder under the root). Returns the version promoted afterwards.

        The promoted version is refused unless ``force`` or it is the name's last version; with ``force`` the
        promotion rolls back to the previous promoted version (or, failing that, the newest remaining one).
        """
        with self._write() as db:
            target = self._get(db, name, version)
            others = [r[0] for r in db.execute("SELECT version FROM versions WHERE name = ? AND version != ? "
                                               "ORDER BY version", (name, target.version))]
            if target.promoted and others and not force:
                raise ValueError(f"{target.label} is the promoted version; promote another version first "
                                 f"(handful models promote {name} VERSION), or pass --force.")
            db.execute("DELETE FROM versions WHERE name = ? AND version = ?", (name, target.version))
            db.execute("UPDATE promotions SET undone = 1 WHERE name = ? AND version = ?", (name, target.version))
            after = None
            if target.promoted:
                db.execute("DELETE FROM production WHERE name = ?", (name,))
                if others:
                    stack = db.execute("SELECT version FROM promotions WHERE name = ? AND undone = 0 "
                                       "ORDER BY id DESC LIMIT 1", (name,)).fetchone()
                    fallback = stack[0] if stack is not None else others[-1]
                    self._promote(db, name, fallback, f"v{target.version} was deleted")
                    after = self._get(db, name, fallback)
            elif db.execute("SELECT 1 FROM production WHERE name = ?", (name,)).fetchone():
                after = self._get(db, name, None)
        self._remove_folder(target.path)
        logger.info("deleted %s", target.label)
        return after

    # ------------------------------------------------------------------ housekeeping
    def _remove_folder(self, folder: Path) -> None:
        """Remove a version folder this registry made: inside the root, named v<N>, holding a model manifest."""
        folder = folder.resolve()
        if self.root not in folder.parents or not FOLDER.match(folder.name) or not (folder / MANIFEST).is_file():
            logger.warning("left %s in place: it does not look like a folder this registry made", folder)
            return
        trash = self.root / TRASH / f"{folder.parent.name}-{folder.name}-{uuid.uuid4().hex[:8]}"
        trash.parent.mkdir(parents=True, exist_ok=True)
        os.replace(folder, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def _sweep(self) -> None:
        """Remove staging folders of writers that died and leftovers in the trash (only names this registry gives
        them: other files there are never touched)."""
        safety.sweep_registry(self.root / INCOMING, self.root / TRASH)

    def orphans(self) -> list[Path]:
        """Version folders on disk with no row (left by a crash between rename and commit); never served."""
        recorded = {(v.name, v.path.name) for v in self.versions()}
        found = []
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir() and NAME.match(p.name)):
            found += [p for p in sorted(folder.iterdir()) if FOLDER.match(p.name) and (folder.name, p.name)
                      not in recorded]
        return found
