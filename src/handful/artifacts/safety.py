"""Writing a model folder without ever losing a user's files or a model: the rules, the lock and the swap.

* **Only replace what handful wrote.** An output path must be new, an empty folder, or a handful model folder: a
  ``manifest.json`` with handful's format marker *and* nothing but handful's files beside it. Anything else (a
  folder with a web app's ``manifest.json``, the training photos, a file) is refused before any work, naming the
  path and the fix (:func:`check_output`). A single file (a report, an export, a CSV of findings) likewise
  replaces only a file of its kind that handful wrote (:func:`check_file_output`), written whole or not at all.
* **One writer at a time per output.** A lock file beside the target (``.NAME.handful-lock``, ``fcntl``) makes a
  second writer wait for the first, then replace its model whole; neither gets a traceback.
* **No window without a model.** The new folder is written complete beside the target, then exchanged with the
  old one in a single ``renameat2(RENAME_EXCHANGE)`` (Linux), so the path always holds the old model or the new
  one. Where exchange is not available, two renames are used and a crash between them leaves the old model
  hidden beside the target: :func:`recover` (run by the next save, and by a load that finds the path empty) puts
  it back, and removes the temporary folders crashed saves left.
* **Fault injection.** :data:`STEP_HOOK`, when set, is called with the name of each step between filesystem
  operations; the crash tests stop the save there (``os._exit``) and check what is left.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from handful._lists import listed

logger = logging.getLogger(__name__)

FORMAT = "handful-model"
MANIFEST = "manifest.json"
WEIGHTS = "head.safetensors"
EVALUATIONS = "evaluations.json"  # scores of `handful evaluate`, kept beside the model (artifacts.evaluations)
FILES = frozenset({MANIFEST, WEIGHTS, EVALUATIONS})
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
RENAME_EXCHANGE = 2
FIX = "Give a new or empty folder, e.g. -o models/NAME (Python: clf.save('models/NAME'))."

STEP_HOOK: Callable[[str], None] | None = None


class OutputPathError(ValueError):
    """An output path handful must not write a model to (it would replace files handful did not write)."""


def step(name: str) -> None:
    """Mark a point between two filesystem operations of a save (for the fault-injection tests)."""
    if STEP_HOOK is not None:
        STEP_HOOK(name)


def is_model_folder(folder: Path) -> bool:
    """A folder handful wrote: its manifest carries handful's format marker and it holds only handful's files."""
    try:
        names = {p.name for p in folder.iterdir()}
        manifest = folder / MANIFEST
        if MANIFEST not in names or not names <= FILES or manifest.stat().st_size > MAX_MANIFEST_BYTES:
            return False
        content = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(content, dict) and content.get("format") == FORMAT


def check_output(path: str | Path, data: str | Path | None = None) -> Path:
    """The resolved output folder, or an OutputPathError naming the path and the fix, before any training.

    Refused: an existing file; a non-empty folder that is not a handful model folder (see :func:`is_model_folder`);
    a folder inside (or equal to) the training data ``data``; a place this process cannot write.
    """
    target = Path(path).expanduser().resolve()
    if target.exists() and not target.is_dir():
        raise OutputPathError(f"{target} is a file; handful saves a model as a folder and never replaces a file. {FIX}")
    if data is not None:
        source = Path(data).expanduser().resolve()
        if source.is_dir() and (target == source or source in target.parents):
            raise OutputPathError(f"{target} is inside the training data {source}; a model saved there would mix "
                                  f"with the data (and be read as data next time). {FIX}")
    if target.is_dir():
        try:
            entries = sorted(p.name + ("/" if p.is_dir() else "") for p in target.iterdir())
        except OSError as error:
            raise OutputPathError(f"{target} cannot be read ({error.strerror or error}). {FIX}") from error
        if entries and not is_model_folder(target):
            raise OutputPathError(
                f"{target} is a folder handful did not write (it holds {listed(entries)}); handful only replaces "
                f"an empty folder or a model folder it saved, and will not delete these files. {FIX}")
    existing = next(p for p in (target, *target.parents) if p.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputPathError(f"{target} cannot be written: {existing} is not writable by this user. {FIX}")
    return target


def check_file_output(path: str | Path, ours: Callable[[Path], bool], kind: str, example: str) -> Path:
    """The resolved path of a file handful is about to write, or an OutputPathError naming the path and the fix.

    A file that is already there is replaced only when ``ours`` recognises it as one handful wrote (a report, an
    export, a findings table of the same kind): never the user's data, notes or a page of their own. Refused too:
    a folder, and a place this process cannot write. ``kind`` names the file with its article ("a report").
    """
    target = Path(path).expanduser().resolve()
    if target.is_dir():
        raise OutputPathError(f"{target} is a folder; give the path of the file to write, e.g. {target / example}")
    if target.exists() and not ours(target):
        other = target.with_name(example) if target.name != example else target.with_stem(f"{target.stem}-2")
        raise OutputPathError(
            f"{target} exists and is not {kind} handful wrote; handful never replaces a file it did not write. "
            f"Give a new path (e.g. {other}) or move that file away first.")
    existing = next(p for p in target.parents if p.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputPathError(f"{target} cannot be written: {existing} is not writable by this user.")
    return target


def file_start(path: Path, size: int = 4096) -> bytes:
    """The first ``size`` bytes of ``path`` (empty when it cannot be read): enough to recognise what wrote it."""
    try:
        with path.open("rb") as handle:
            return handle.read(size)
    except OSError:
        return b""


def write_file(target: Path, write: Callable[[Path], object]) -> None:
    """Write ``target`` whole or not at all: ``write`` fills a temporary file beside it, renamed into place."""
    staging = target.with_name(f".{target.name}.handful-tmp-{os.getpid()}")
    try:
        write(staging)
        os.chmod(staging, 0o644)
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)


@contextlib.contextmanager
def locked(target: Path) -> Iterator[None]:
    """Hold the lock of output ``target`` (a file beside it), waiting for another writer to finish first.

    The lock file is removed on release, so nothing is left beside the model; a writer that was waiting on a
    removed file notices (the path no longer names the file it locked) and locks the new one instead.
    """
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks here; the swap still keeps the path whole
        yield
        return
    lock = target.parent / f".{target.name}.handful-lock"
    while True:
        handle = lock.open("a")
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            same = os.stat(lock).st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        handle.close()
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()
        handle.close()


def leftovers(target: Path) -> tuple[list[Path], list[Path]]:
    """Temporary (``.NAME.tmp-*``) and retired (``.NAME.old-*``) folders of earlier saves of ``target``."""
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(tmp|old)-[0-9a-f]{{8}}$")
    found: dict[str, list[Path]] = {"tmp": [], "old": []}
    try:
        for entry in sorted(target.parent.iterdir()):
            if (match := pattern.match(entry.name)) and entry.is_dir() and not entry.is_symlink():
                found[match.group(1)].append(entry)
    except OSError:
        pass
    return found["tmp"], found["old"]


def recover(target: Path) -> None:
    """Undo what a crashed save of ``target`` left (call with the lock held, or when only reading is at stake).

    The path empty and a retired model beside it: the retired model is put back. Then temporary and retired
    folders are removed, but only those holding nothing but handful's files (a partial write or a model).
    """
    temporary, retired = leftovers(target)
    if not target.exists():
        for old in reversed(retired):
            if is_model_folder(old):
                os.replace(old, target)
                logger.warning("restored %s from %s, left hidden by an interrupted save", target, old.name)
                retired.remove(old)
                break
    for folder in temporary + retired:
        try:
            if {p.name for p in folder.iterdir()} <= FILES:
                shutil.rmtree(folder, ignore_errors=True)
                logger.info("removed %s, left by an interrupted save", folder)
        except OSError:
            continue


def _renameat2() -> Callable[[Path, Path], bool] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True) if name else None
    except OSError:
        return None
    function = getattr(libc, "renameat2", None)
    if function is None:
        return None
    at_fdcwd = -100

    def exchange(first: Path, second: Path) -> bool:
        if function(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), RENAME_EXCHANGE) == 0:
            return True
        code = ctypes.get_errno()
        if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
            return False  # this filesystem cannot exchange: fall back to two renames
        raise OSError(code, os.strerror(code), str(first))

    return exchange


def swap_in(staging: Path, target: Path, retired: Path, exchange: bool = True) -> None:
    """Put the complete folder ``staging`` at ``target``; an old model there ends at ``retired``, then removed."""
    if not target.exists():
        os.replace(staging, target)
        step("renamed")
        return
    swap = _renameat2() if exchange else None
    if swap is not None and swap(staging, target):
        step("exchanged")
        shutil.rmtree(staging, ignore_errors=True)  # it now holds the old model
        step("old-removed")
        return
    else:
        os.replace(target, retired)
        step("retired")
        os.replace(staging, target)
        step("renamed")
    shutil.rmtree(retired, ignore_errors=True)
    step("old-removed")


# ---------------------------------------------------------------------------------------------- the model store
# ROOT/.incoming/<pid>-<random>, and the temporary folder a model save makes beside it
STAGING = re.compile(r"^\.?[0-9]+-[0-9a-f]{4,32}(\.(tmp|old)-[0-9a-f]{8}|\.handful-lock)?$")
TRASHED = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}-v[1-9][0-9]{0,8}-[0-9a-f]{8}$")  # ROOT/.trash/<name>-v<N>-<r>


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def sweep_registry(incoming: Path, trash: Path) -> None:
    """Remove a registry's staging folders whose writer is gone, and its trash; only entries named as the
    registry names them."""
    for entry in sorted(incoming.iterdir()) if incoming.is_dir() else []:
        pid = entry.name.lstrip(".").split("-")[0]
        if STAGING.match(entry.name) and int(pid) != os.getpid() and not pid_alive(int(pid)):
            logger.info("removing %s, left by a writer that stopped (process %s)", entry, pid)
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
    for entry in sorted(trash.iterdir()) if trash.is_dir() else []:
        if TRASHED.match(entry.name):
            shutil.rmtree(entry, ignore_errors=True)


def clear_orphans(folder: Path, versions: re.Pattern[str], recorded: set[int]) -> None:
    """Remove version folders under ``folder`` with no database row and nothing but handful's files (call with
    the registry's write lock held: then no writer is between its rename and its commit, so a crash left them)."""
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        match = versions.match(entry.name)
        if match and int(match.group(1)) not in recorded and entry.is_dir() and not entry.is_symlink() and \
                {p.name for p in entry.iterdir()} <= FILES:
            logger.warning("removing %s, a version left unrecorded by an interrupted registration", entry)
            shutil.rmtree(entry, ignore_errors=True)
