"""Label-preserving augmentation: several transformed views of each training example, per modality.

With a frozen backbone, augmentation works by embedding a few augmented views of every training example (cached
like any feature) and training the head on them beside the originals. Every view is drawn from a Generator
derived from (seed, the example's content digest, the view's index), so views are reproducible and do not depend
on the order of the examples.

Example:
    >>> from handful.augment import parse_augment
    >>> parse_augment("medium,no-flip").key()
    'medium-4views-no-flip-v1'
    >>> parse_augment("off") is None
    True
"""

from __future__ import annotations

import difflib
import hashlib
import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from handful.augment import audio, image, text
from handful.data import decode

VERSION = "1"  # changes whenever a transform changes, so cached views are never reused across it
STRENGTHS: tuple[str, ...] = ("light", "medium", "strong")
DEFAULT_VIEWS = 4
MAX_VIEWS = 32
TRANSFORMS: dict[str, tuple[str, ...]] = {
    "image": tuple(image.TRANSFORMS),
    "text": tuple(text.TRANSFORMS),
    "audio": tuple(audio.TRANSFORMS),
}
ALL_TRANSFORMS: tuple[str, ...] = tuple(sorted({name for names in TRANSFORMS.values() for name in names}))


@dataclass(frozen=True)
class Augmentation:
    """How training examples are augmented: the strength, the transforms switched off, and views per example."""

    strength: str = "light"
    disabled: frozenset[str] = field(default_factory=frozenset)
    views: int = DEFAULT_VIEWS
    background: str = ""  # audio: a folder of background clips (e.g. the unlabelled pool) mixed in as noise
    background_digest: str = ""  # the clips' content, so new or changed clips give new views

    def key(self) -> str:
        """A stable string naming these settings (part of every cache key of augmented features and scores)."""
        off = "".join(f"-no-{name}" for name in sorted(self.disabled))
        clips = f"-bg{self.background_digest[:12]}" if self.background else ""
        return f"{self.strength}-{self.views}views{off}{clips}-v{VERSION}"

    def view_key(self) -> str:
        """What one augmented view depends on besides its example and index: :meth:`key` without the number of
        views, so views 0..3 are shared by ``views=4`` and ``views=8`` (the feature cache of views uses it)."""
        off = "".join(f"-no-{name}" for name in sorted(self.disabled))
        clips = f"-bg{self.background_digest[:12]}" if self.background else ""
        return f"{self.strength}{off}{clips}-v{VERSION}"

    def backgrounds(self) -> list[Any]:
        """The background clips, decoded (``Audio``); unreadable ones are skipped with a warning."""
        if not self.background:
            return []
        pool = _background_pool(self.background)
        return [decode.load_audio(e.source) for e in pool.examples]

    def transforms(self, modality: str) -> list[str]:
        """The transforms applied for ``modality``, in the order they are applied."""
        return [name for name in TRANSFORMS[modality] if name not in self.disabled]

    def validate(self, modality: str) -> Augmentation:
        """Check the switched-off names against ``modality``'s transforms; returns self."""
        for name in self.disabled:
            if name not in TRANSFORMS[modality]:
                raise _unknown(f"{modality} transform", name, TRANSFORMS[modality])
        if not self.transforms(modality):
            raise ValueError(f"every {modality} transform is switched off; to train without augmentation use "
                             "augment='off' (--augment off).")
        if self.background and modality != "audio":
            raise ValueError(f"background clips mix noise into sounds, but the data is {modality}; drop "
                             f"'background={self.background}' from the augment setting.")
        if self.background and "noise" in self.disabled:
            raise ValueError("background clips are mixed in by the noise transform, which is switched off; "
                             "drop 'no-noise' or the background setting.")
        return self

    def describe(self, modality: str) -> dict[str, Any]:
        """What a model card records: strength, views per example, transforms used and switched off."""
        described = {"strength": self.strength, "views": self.views, "transforms": self.transforms(modality),
                     "disabled": sorted(self.disabled), "key": self.key()}
        if self.background:
            described |= {"background": self.background, "background_digest": self.background_digest}
        return described


def _background_pool(folder: str) -> Any:
    from handful.data.sources import read_unlabelled

    try:
        pool = read_unlabelled(folder, "audio")
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot use {folder} for background clips: {error} Give a folder of sound files, such as "
                         "your unlabelled pool.") from error
    if not pool.examples:
        raise ValueError(f"{folder} holds no readable sound file to use as background noise.")
    return pool


def with_background(augmentation: Augmentation, folder: str | Path) -> Augmentation:
    """``augmentation`` mixing clips from ``folder`` (recursively) into audio as background noise.

    The clips' content digest becomes part of the key, so cached views follow the folder's content.
    """
    pool = _background_pool(str(folder))
    digest = hashlib.sha256("\n".join(sorted(e.digest for e in pool.examples)).encode()).hexdigest()
    return Augmentation(augmentation.strength, augmentation.disabled, augmentation.views,
                        str(Path(folder).expanduser().resolve()), digest)


LIKE = {"heavy": "strong", "high": "strong", "aggressive": "strong", "max": "strong", "low": "light", "weak": "light",
        "mild": "light", "moderate": "medium", "normal": "medium", "none": "off", "no": "off"}  # words people use


def _unknown(what: str, name: str, valid: tuple[str, ...] | list[str]) -> ValueError:
    close = difflib.get_close_matches(name, list(valid), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ValueError(f"Unknown {what} {name!r}. Valid: {', '.join(sorted(valid))}.{hint}")


def _from_mapping(data: dict[str, Any], where: str) -> Augmentation | None:
    known = {"strength", "disabled", "views", "off", "background"}
    for key in data:
        if key not in known:
            raise _unknown(f"augmentation setting in {where}:", str(key), sorted(known))
    if data.get("off") is True:
        return None
    strength = str(data.get("strength", "light"))
    if strength not in STRENGTHS:
        raise _unknown(f"augmentation strength in {where}:", strength, STRENGTHS)
    disabled = data.get("disabled", [])
    if isinstance(disabled, str) or not isinstance(disabled, list):
        raise ValueError(f"'disabled' in {where} must be a list of transform names, e.g. [\"flip\", \"rotate\"]; "
                         f"got {disabled!r}")
    for name in disabled:
        if name not in ALL_TRANSFORMS:
            raise _unknown("transform", str(name), ALL_TRANSFORMS)
    chosen = Augmentation(strength, frozenset(str(n) for n in disabled), _views(data.get("views", DEFAULT_VIEWS)))
    background = data.get("background")
    if background:
        folder = Path(str(background)).expanduser()
        return with_background(chosen, folder if folder.is_absolute() else Path(where).parent / folder)
    return chosen


def _views(value: Any) -> int:
    try:
        views = int(value)
    except (TypeError, ValueError):
        views = 0
    if isinstance(value, bool) or views < 1 or views > MAX_VIEWS or str(views) != str(value).strip():
        raise ValueError(f"views must be a whole number from 1 to {MAX_VIEWS}, got {value!r}")
    return views


def parse_augment(spec: str | Path | Augmentation | None) -> Augmentation | None:
    """Read an augmentation setting; ``None`` means no augmentation.

    Accepted: ``"off"``; a strength ``"light"``, ``"medium"`` or ``"strong"``; transforms to switch off such as
    ``"no-flip,no-rotate"``; ``"views=8"``; for sounds ``"background=DIR"`` (clips from a folder, such as the
    unlabelled pool, mixed in as background noise); any comma-separated mix (``"medium,no-flip,views=6"``); or the path
    of a JSON or TOML file with ``strength``, ``disabled`` (a list of names), ``views`` and ``background`` (or
    ``off = true``).

    Example:
        >>> parse_augment("strong,no-flip,views=6")
        Augmentation(strength='strong', disabled=frozenset({'flip'}), views=6)
    """
    if spec is None or isinstance(spec, Augmentation):
        return spec
    if not isinstance(spec, str | Path):
        raise TypeError(f"augment must be None, 'off', a strength, a list like 'no-flip,no-rotate' or a config "
                        f"file path; got a {type(spec).__name__}")
    path = Path(spec)
    if path.suffix.lower() in (".json", ".toml"):
        return _read_file(path)
    words = [w.strip().lower() for w in str(spec).split(",") if w.strip()]
    if not words:
        raise ValueError("augment is empty; use 'off', 'light', 'medium', 'strong' or e.g. 'no-flip,no-rotate'.")
    if words == ["off"] or words == ["none"]:
        return None
    strength, disabled, views, background = "light", set(), DEFAULT_VIEWS, ""
    for word in [w.strip() for w in str(spec).split(",") if w.strip()]:
        if word.lower().startswith("background="):  # a path keeps its case
            background = word.split("=", 1)[1]
    words = [w for w in words if not w.startswith("background=")]
    for word in words:
        if word in STRENGTHS:
            strength = word
        elif word.startswith("no-"):
            name = word[3:]
            if name not in ALL_TRANSFORMS:
                raise _unknown("transform", name, ALL_TRANSFORMS)
            disabled.add(name)
        elif word.startswith("views="):
            views = _views(word.removeprefix("views="))
        elif word in ("on", "default"):
            continue
        else:
            close = [LIKE.get(word)] if word in LIKE else difflib.get_close_matches(
                word, [*STRENGTHS, "off", *(f"no-{n}" for n in ALL_TRANSFORMS)], n=1)
            raise ValueError(
                f"Unknown augment setting {word!r}.{f' Did you mean {close[0]!r}?' if close else ''} Give a strength "
                f"({', '.join(STRENGTHS)}) or off; views=N; background=DIR (sounds); or no-NAME to switch one "
                f"transform off, where NAME is one of {', '.join(sorted(ALL_TRANSFORMS))}. Mix them with commas: "
                "medium,no-flip,views=6.")
    chosen = Augmentation(strength, frozenset(disabled), views)
    return with_background(chosen, background) if background else chosen


def _read_file(path: Path) -> Augmentation | None:
    if not path.is_file():
        raise ValueError(f"augmentation config file {path} does not exist; pass an existing .json or .toml file, or "
                         "a setting such as 'light' or 'no-flip,no-rotate'.")
    try:
        raw = path.read_text(encoding="utf-8")
        data = json.loads(raw) if path.suffix.lower() == ".json" else tomllib.loads(raw)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"cannot read the augmentation config {path}: {error}") from error
    if isinstance(data, dict) and isinstance(data.get("augment"), dict):  # a [augment] table in a larger file
        data = data["augment"]
    if not isinstance(data, dict):
        raise ValueError(f"the augmentation config {path} must hold an object with strength, disabled and views.")
    return _from_mapping(data, str(path))


def view_generator(seed: int, digest: str, view: int) -> np.random.Generator:
    """The Generator of one view of one example: a function of the seed, the content digest and the view index."""
    entropy = int.from_bytes(hashlib.sha256(f"{seed}:{digest}:{view}".encode()).digest()[:16], "big")
    return np.random.default_rng(entropy)


def augment(value: Any, modality: str, augmentation: Augmentation, rng: np.random.Generator,
            backgrounds: Sequence[Any] = ()) -> Any:
    """One augmented view of a decoded input (RGB image, str or Audio) of ``modality``, of the same type.

    ``backgrounds`` (decoded ``Audio``, see :meth:`Augmentation.backgrounds`) are clips the audio noise transform
    may mix in instead of white or pink noise.
    """
    enabled = augmentation.transforms(modality)
    if modality == "image":
        return image.augment_image(value, rng, augmentation.strength, enabled)
    if modality == "text":
        return text.augment_text(value, rng, augmentation.strength, enabled)
    if modality == "audio":
        return audio.augment_audio(value, rng, augmentation.strength, enabled, backgrounds)
    raise ValueError(f"modality must be image, text or audio, got {modality!r}")


__all__ = [
    "ALL_TRANSFORMS", "STRENGTHS", "TRANSFORMS", "Augmentation", "augment", "parse_augment", "view_generator",
    "with_background",
]
