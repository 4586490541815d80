"""Turn uploaded image or audio files into clean small files for the model, within a memory budget per request.

A 100 KB PNG can hold 25 million pixels, and a small FLAC minutes of 384 kHz audio, so the limits that matter are on
what decoding costs, not on the bytes sent:

* every file's header is read first (pixels, or frames x channels) and the request is refused with 413 when one
  file or the sum over its files is over its limit, before a single pixel or sample is decoded;
* files are decoded one at a time, shrunk while decoding (images to the size the backbones use, audio to the
  backbone's sample rate when there is one), written to a temporary file and dropped, so a request holds one
  full-size file at most; files over :data:`HEAVY` go through a server-wide gate, one at a time;
* after a heavy request the freed memory is handed back to the operating system (``malloc_trim`` on glibc), so
  the resident size returns near its start instead of staying at its peak.
"""

from __future__ import annotations

import gc
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handful._memory import malloc_trim
from handful.data.decode import BadInputError, TooLargeError, audio_size, decode_audio, decode_image, image_size
from handful.serve.settings import Settings

logger = logging.getLogger(__name__)

# Served images are shrunk to this shorter side while decoding: above every backbone's input (the largest crops
# 260 px from a 297 px shorter side), so predictions match the library's on all but the largest photos.
SHORT_SIDE = 512
HEAVY = 4_000_000  # pixels or samples: a file over this decodes through the server-wide gate


@dataclass
class Gate:
    """What the requests of one app share: the gate heavy files decode through, and the C library's trim."""

    heavy: threading.Semaphore = field(default_factory=lambda: threading.BoundedSemaphore(1))
    trim: Any = field(default_factory=malloc_trim)  # None where the C library has none (musl, macOS)


class UploadError(Exception):
    """Some uploads cannot be used: ``status`` 413 when all of them are only too large, else 415."""

    def __init__(self, status: int, message: str, bad: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.status, self.message, self.bad = status, message, bad


def decode_all(uploads: list[tuple[str, bytes]], image: bool, folder: Path, rate: int | None, settings: Settings,
               gate: Gate, costs: list[int]) -> list[str]:
    """Decode each upload (one at a time, shrunk) into a clean file in ``folder``; the paths, in order.

    Every header is read first: a file over a per-file limit, or a request whose files hold more than the
    per-request limit together, is refused before anything is decoded. ``rate`` resamples audio to the backbone's
    rate here (what the backbone would do first), so the model never holds the clip at its own rate a second
    time. ``costs`` receives each file's decoding cost (for :func:`release`). Raises UploadError naming every bad
    file.
    """
    bad: dict[int, dict[str, str]] = {}
    too_large = 0
    for index, (filename, data) in enumerate(uploads):
        try:
            costs.append(_cost(data, image, settings))
        except BadInputError as error:
            costs.append(0)
            too_large += isinstance(error, TooLargeError)
            bad[index] = {"file": filename, "reason": str(error)}
    limit, unit = (settings.max_request_pixels, "pixels") if image else (settings.max_request_samples, "samples")
    if not bad and sum(costs) > limit:
        raise UploadError(413, f"the {len(uploads)} files hold {sum(costs):,} {unit} together, over the "
                          f"per-request limit of {limit:,}; send fewer or smaller files per request",
                          [{"file": name, "reason": f"{cost:,} {unit}"} for (name, _), cost in
                           zip(uploads, costs, strict=True)])
    paths: list[str] = []
    budget = settings.max_request_samples
    for index, (filename, data) in enumerate(uploads):
        # BMP: lossless like PNG, without its compression (about 19 ms of CPU to write a 256x350 photo as PNG,
        # 0.4 ms as BMP): the copy is read back once, at once, by the same process.
        path = folder / f"{index:04d}{'.bmp' if image else '.wav'}"
        paths.append(str(path))
        if index in bad:
            continue
        heavy = costs[index] > HEAVY
        if heavy:
            gate.heavy.acquire()
        try:
            if image:
                decode_image(data, max_pixels=settings.max_image_pixels, short_side=SHORT_SIDE).save(path, "BMP")
            else:
                budget -= _write_audio(data, path, rate, settings, budget)
        except BadInputError as error:
            too_large += isinstance(error, TooLargeError)
            bad[index] = {"file": filename, "reason": str(error)}
        finally:
            if heavy:
                gate.heavy.release()
    _raise_bad([bad[i] for i in sorted(bad)], too_large, image)
    return paths


def _cost(data: bytes, image: bool, settings: Settings) -> int:
    """What decoding ``data`` costs (pixels, or frames x channels) from its header, checked per file."""
    if not data:
        raise BadInputError("the file is empty (0 bytes)")
    if image:
        width, height = image_size(data)
        if width * height > settings.max_image_pixels:
            raise TooLargeError(f"the image is {width}x{height} pixels, over the {settings.max_image_pixels:,}-"
                                "pixel limit (a possible decompression bomb); resize it first")
        return width * height
    frames, channels, rate = audio_size(data)
    if rate > 0 and frames / rate > settings.max_audio_seconds:
        raise TooLargeError(f"the clip is {frames / rate:.0f} s long, over the {settings.max_audio_seconds:g} s "
                            "limit; cut it into shorter clips")
    return frames * channels


def _write_audio(data: bytes, path: Path, rate: int | None, settings: Settings, budget: int) -> int:
    import soundfile

    frames, channels, _ = audio_size(data)
    audio = decode_audio(data, max_seconds=settings.max_audio_seconds, max_samples=max(budget, 0), rate=rate)
    soundfile.write(path, audio.samples, audio.sample_rate, format="WAV", subtype="FLOAT")
    return frames * channels


def release(gate: Gate, costs: list[int]) -> None:
    """After a request that decoded a lot, hand the freed memory back to the operating system."""
    if sum(costs) <= HEAVY:
        return
    gc.collect()
    if gate.trim is not None:
        gate.trim(0)


def _raise_bad(bad: list[dict[str, str]], too_large: int, image: bool) -> None:
    if not bad:
        return
    names = ", ".join(repr(b["file"]) for b in bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
    if too_large == len(bad):
        raise UploadError(413, f"{names} over the {'pixel' if image else 'duration'} limit", bad)
    raise UploadError(415, f"cannot read {names} as {'an image' if image else 'audio'}", bad)


def sample_rate(backbone: str) -> int | None:
    """The one sample rate every part of ``backbone`` resamples to, or None (no rate, or parts that differ)."""
    from handful.backbones.features import parts_of
    from handful.backbones.registry import get_spec

    try:
        rates = {get_spec(part).preprocessing.get("sample_rate") for part in parts_of(backbone)}
    except Exception:  # an unknown backbone: let the model decode at the file's own rate
        return None
    rate = rates.pop() if len(rates) == 1 else None
    return int(rate) if isinstance(rate, int | float) and rate > 0 else None
