"""Decode one image or audio file into a clean in-memory value, or say exactly why it cannot be used.

Every reader of user files goes through here, so the limits (decompression bombs, absurd sizes, empty files)
are enforced in one place. Files are opened read-only and never written.
"""

from __future__ import annotations

import io
import itertools
import math
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".heif",
                            ".avif"})
# HEIF (a phone camera's default photo format): the brands of its "ftyp" box; its decoder loads on first sight
HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"})
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".opus", ".m4a", ".aac"})

MAX_FILE_BYTES = 200 * 1024 * 1024
MAX_IMAGE_PIXELS = 64_000_000  # ~8000 x 8000; larger is refused as a likely decompression bomb
MAX_AUDIO_SECONDS = 600.0


MAX_SAMPLE_RATE = 384_000


class BadInputError(ValueError):
    """A single input that cannot be used; the message names the reason and, where it helps, the fix."""


class TooLargeError(BadInputError):
    """A readable input over a size limit (pixels, seconds): a service answers it with 413, not 415."""


@dataclass(frozen=True)
class Audio:
    """Mono float32 samples in [-1, 1] at ``sample_rate`` Hz."""

    samples: np.ndarray
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / float(self.sample_rate)


def read_bytes(path: Path) -> bytes:
    """Read a file whole, refusing empty and absurdly large ones."""
    try:
        size = path.stat().st_size
        if size == 0:
            raise BadInputError("the file is empty (0 bytes)")
        if size > MAX_FILE_BYTES:
            raise BadInputError(f"the file is {size / 1e6:.0f} MB, over the {MAX_FILE_BYTES / 1e6:.0f} MB limit")
        with path.open("rb") as handle:
            return handle.read(MAX_FILE_BYTES + 1)
    except PermissionError as error:
        raise BadInputError("cannot read the file: permission denied (check its owner and mode, "
                            "e.g. chmod a+r)") from error
    except OSError as error:
        raise BadInputError(f"cannot read the file ({error.strerror or error})") from error


def _unreadable(error: Exception) -> str:
    """What the user reads for an image PIL cannot open: what was wrong, in words, and what to do about it."""
    if isinstance(error, Image.UnidentifiedImageError):  # its message names an in-memory buffer, not the file
        return ("not a readable image: its content is in no image format handful reads (JPEG, PNG, GIF, WebP, BMP, "
                "TIFF); export it as one of those or remove it")
    return (f"not a readable image ({type(error).__name__}: {error}); export or copy it again from its source, or "
            "remove it")


def _unreadable_audio(error: Exception) -> str:
    """What the user reads for a sound file that cannot be decoded, without the decoder's in-memory buffer."""
    said = re.sub(r"<_io\.BytesIO object at 0x[0-9a-f]+>", "the file", str(error))
    return (f"not a readable audio file ({type(error).__name__}: {said}); export it again as WAV, FLAC, OGG or MP3, "
            "or remove it")


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height from an image's header, without decoding a pixel (BadInputError if unreadable)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Image.DecompressionBombError as error:
        raise TooLargeError(f"refused as a possible decompression bomb ({error})") from error
    except Exception as error:  # PIL raises many types for corrupt data; all mean the same to the user
        raise BadInputError(_unreadable(error)) from error


def decode_image(data: bytes, max_pixels: int = MAX_IMAGE_PIXELS, short_side: int | None = None) -> Image.Image:
    """Decode image bytes to an RGB image: EXIF rotation applied, transparency put on white, first frame only.

    The size is checked from the header before any pixel is decoded: over ``max_pixels`` raises TooLargeError.
    16-bit and 32-bit grey images are scaled to 8 bits (not clipped to white). With ``short_side``, an image whose
    shorter side is longer is shrunk to it while decoding (a JPEG decodes at 1/2, 1/4 or 1/8 scale directly, the
    rest right after the pixels are read, before any copy in another mode), so a server holds a small copy, never
    the full-size one, for longer than one file.
    """
    image: Image.Image
    if data[4:8] == b"ftyp" and data[8:12] in HEIF_BRANDS:
        import pi_heif  # noqa: PLC0415 (about 90 ms, paid by HEIF photos only)

        pi_heif.register_heif_opener()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise TooLargeError(
                    f"the image is {width}x{height} pixels, over the {max_pixels:,}-pixel limit "
                    "(a possible decompression bomb); resize it first"
                )
            image.seek(0)
            target = _shrunk((width, height), short_side)
            if target != (width, height) and image.format == "JPEG":
                image.draft("RGB", target)  # DCT scaling: the full-size pixels are never held
            orientation = _orientation(image)
            image.load()
    except BadInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise TooLargeError(f"refused as a possible decompression bomb ({error})") from error
    except Exception as error:  # PIL raises many types for corrupt data; all mean the same to the user
        raise BadInputError(_unreadable(error)) from error
    if image.mode.startswith("I") or image.mode == "F":
        image = _to_8bit(image)
    target = _shrunk(image.size, short_side)
    if target != image.size:
        if image.mode in ("P", "PA", "1"):
            image = image.convert("RGBA" if image.mode == "PA" or "transparency" in image.info else "RGB")
        image = image.resize(target, Image.Resampling.BILINEAR, reducing_gap=2.0)
    if orientation in ORIENTATIONS:
        image = image.transpose(ORIENTATIONS[orientation])
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


# EXIF orientation -> the transpose that undoes it (the table of PIL.ImageOps.exif_transpose)
ORIENTATIONS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270,
                7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(0x0112, 1))
    except Exception:  # a broken EXIF block should not lose an otherwise good image
        return 1


def _shrunk(size: tuple[int, int], short_side: int | None) -> tuple[int, int]:
    """``size`` scaled so its shorter side is ``short_side`` (unchanged when already no longer)."""
    width, height = size
    if short_side is None or min(width, height) <= short_side:
        return size
    scale = short_side / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _to_8bit(image: Image.Image, rows: int = 512) -> Image.Image:
    """A 16-bit, 32-bit integer or float grey image as 8-bit grey, scaled (PIL's own convert clips at 255).

    16-bit modes use their full range (0..65535); a 32-bit integer image (how PIL opens some 16-bit PNG and TIFF
    files) is read as 16-bit when its values fit, else stretched between its minimum and maximum; a float image
    in [0, 1] is scaled by 255, any other float range stretched. Done ``rows`` at a time, so a large image never
    has a float copy in memory.
    """
    width, height = image.size

    def bands() -> Iterator[tuple[int, np.ndarray]]:
        for top in range(0, height, rows):
            yield top, np.asarray(image.crop((0, top, width, min(top + rows, height))), dtype=np.float64)

    if image.mode.startswith("I;16"):
        low, high = 0.0, 65535.0
    else:
        lows, highs = [], []
        for _, band in bands():
            finite = band[np.isfinite(band)]
            if finite.size:
                lows.append(float(finite.min()))
                highs.append(float(finite.max()))
        low, high = (min(lows), max(highs)) if lows else (0.0, 1.0)
        if image.mode == "F" and low >= 0 and high <= 1:
            low, high = 0.0, 1.0
        elif image.mode == "I" and low >= 0 and high <= 65535:
            low, high = 0.0, 65535.0 if high > 255 else 255.0
    out = np.empty((height, width), dtype=np.uint8)
    for top, band in bands():
        scaled = np.nan_to_num((band - low) * (255.0 / max(high - low, 1e-12)), nan=0.0)
        out[top:top + len(band)] = np.clip(np.rint(scaled), 0, 255)
    return Image.fromarray(out, mode="L")


def load_image(path: str | Path) -> Image.Image:
    """Read and decode one image file.

    Example:
        >>> from handful.data.decode import load_image
        >>> load_image("photo.jpg").mode  # doctest: +SKIP
        'RGB'
    """
    return decode_image(read_bytes(Path(path)))


def audio_size(data: bytes) -> tuple[int, int, int]:
    """(frames, channels, sample rate) from an audio file's header, before decoding (BadInputError if unreadable)."""
    import soundfile

    try:
        with soundfile.SoundFile(io.BytesIO(data)) as handle:
            return int(handle.frames), int(handle.channels), int(handle.samplerate)
    except Exception as error:
        raise BadInputError(_unreadable_audio(error)) from error


def decode_audio(data: bytes, max_seconds: float = MAX_AUDIO_SECONDS, max_samples: int | None = None,
                 rate: int | None = None) -> Audio:
    """Decode audio bytes (anything libsndfile reads) to mono float32 at the file's own rate, or at ``rate``.

    A clip over ``max_seconds`` raises TooLargeError, as does one holding more than ``max_samples`` samples
    (frames x channels: what decoding costs). Both are checked from the header before decoding and again while
    reading (block by block, mixed to mono as it goes), so a header that lies about them cannot fill the memory.
    With ``rate``, each block is resampled as it is read (the samples :func:`resample` gives), so a long clip at a
    high rate is never held whole at its own rate.
    """
    import soundfile

    if data[4:8] == b"ftyp" or data[:2] in (b"\xff\xf1", b"\xff\xf9"):  # M4A (a phone's voice memo) or raw AAC
        return _decode_aac(data, max_seconds, max_samples, rate)
    try:
        with soundfile.SoundFile(io.BytesIO(data)) as handle:
            clip = _Clip(int(handle.samplerate), int(handle.channels), handle.frames, max_seconds, max_samples, rate)
            for block in handle.blocks(blocksize=65_536, dtype="float32", always_2d=True):
                mono = block.mean(axis=1, dtype=np.float32)
                del block
                clip.add(mono)
    except BadInputError:
        raise
    except Exception as error:
        raise BadInputError(_unreadable_audio(error)) from error
    return clip.audio()


def _decode_aac(data: bytes, max_seconds: float, max_samples: int | None, rate: int | None) -> Audio:
    """:func:`decode_audio` for AAC in an MP4 container or raw (ADTS), which libsndfile does not read: FFmpeg's
    decoder through PyAV, each frame mixed to mono float as it comes, with the same limits checked as it reads."""
    try:
        import av  # noqa: PLC0415 (FFmpeg's libraries: loaded for these files only)
    except ImportError:
        raise BadInputError("M4A and AAC audio need PyAV, an optional part (its FFmpeg is a GPL build): pip install "
                            "'handful[aac]', or export the clip as WAV or FLAC") from None
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise BadInputError("the file holds no audio stream")
            stream = container.streams.audio[0]
            native = int(stream.rate or 0)
            declared = int(stream.duration * stream.time_base * native) if stream.duration and stream.time_base else 0
            clip = _Clip(native, int(stream.channels or 1), declared, max_seconds, max_samples, rate)
            mixer = av.AudioResampler(format="flt", layout="mono", rate=native)
            for frame in itertools.chain(container.decode(stream), [None]):  # None: what the mixer holds back
                for mixed in mixer.resample(frame):
                    clip.add(mixed.to_ndarray().reshape(-1).astype(np.float32, copy=False))
    except BadInputError:
        raise
    except Exception as error:
        raise BadInputError(_unreadable_audio(error)) from error
    return clip.audio()


class _Clip:
    """One clip's samples as they are decoded, mono: its limits checked from the header's frame count, then again
    with every block, so a header that lies cannot fill the memory; resampled to ``rate`` as it comes."""

    def __init__(self, native: int, channels: int, declared: int, max_seconds: float, max_samples: int | None,
                 rate: int | None) -> None:
        if not 1 <= native <= MAX_SAMPLE_RATE:
            raise BadInputError(f"the sample rate is {native} Hz, outside 1 to {MAX_SAMPLE_RATE:,} Hz")
        self.native, self.channels, self.rate = native, max(channels, 1), rate or native
        self.max_seconds, self.max_samples, self.frames = max_seconds, max_samples, 0
        self._check(declared)
        self.out = _Resampler(native, self.rate, expected=declared)

    def _check(self, frames: int) -> None:
        if frames > int(self.max_seconds * self.native):
            raise TooLargeError(f"the clip is {frames / self.native:.0f} s long, over the {self.max_seconds:g} s "
                                "limit; cut it into shorter clips")
        if self.max_samples is not None and frames * self.channels > self.max_samples:
            raise TooLargeError(f"the clip holds {frames * self.channels:,} samples ({frames:,} frames x "
                                f"{self.channels} channels), over the {self.max_samples:,}-sample limit; send "
                                "shorter or lower-rate clips")

    def add(self, mono: np.ndarray) -> None:
        self.frames += len(mono)
        self._check(self.frames)
        if not np.isfinite(mono).all():
            raise BadInputError("the audio holds NaN or infinite samples")
        self.out.push(mono)

    def audio(self) -> Audio:
        if self.frames == 0:
            raise BadInputError("the audio file holds no samples")
        return Audio(samples=self.out.finish(), sample_rate=self.rate)


class _Resampler:
    """Mono blocks in, one array out at ``target`` Hz: ``librosa.resample(y, res_type="soxr_hq")`` computed block
    by block (soxr's stream gives the very same samples, and the length is fixed the way librosa fixes it)."""

    def __init__(self, native: int, target: int, expected: int = 0) -> None:
        self.native, self.target, self.count = native, target, 0
        self.stream: Any = None
        if native != target:
            import soxr

            self.stream = soxr.ResampleStream(native, target, 1, dtype="float32", quality="HQ")
        # At the native rate, fill one array sized from the header (no second copy to join the blocks).
        self.buffer = np.empty(expected if self.stream is None and 0 < expected else 0, np.float32)
        self.filled = 0  # samples written to the buffer: a header may promise more, or fewer, than come
        self.parts: list[np.ndarray] = []

    def push(self, mono: np.ndarray) -> None:
        start, self.count = self.count, self.count + len(mono)
        if self.stream is not None:
            self.parts.append(self.stream.resample_chunk(mono, last=False))
        elif self.count <= len(self.buffer) and not self.parts:
            self.buffer[start:self.count] = mono
            self.filled = self.count
        else:
            self.parts.append(mono)

    def finish(self) -> np.ndarray:
        if self.stream is None:
            head = self.buffer[:self.filled]
            return np.concatenate([head, *self.parts]) if self.parts else head
        self.parts.append(self.stream.resample_chunk(np.zeros(0, np.float32), last=True))
        samples = np.concatenate(self.parts)
        wanted = math.ceil(self.count * self.target / self.native)
        if len(samples) < wanted:
            samples = np.pad(samples, (0, wanted - len(samples)))
        return samples[:wanted]


def load_audio(path: str | Path) -> Audio:
    """Read and decode one audio file to mono float32.

    Example:
        >>> from handful.data.decode import load_audio
        >>> load_audio("clip.wav").sample_rate  # doctest: +SKIP
        8000
    """
    return decode_audio(read_bytes(Path(path)))


def resample(audio: Audio, rate: int) -> np.ndarray:
    """Samples of ``audio`` at ``rate`` Hz (no copy when the rate already matches): librosa's default (soxr HQ),
    computed block by block so the float64 and whole-clip copies librosa makes are never held."""
    if audio.sample_rate == rate:
        return audio.samples
    out = _Resampler(audio.sample_rate, rate)
    for start in range(0, len(audio.samples), 65_536):
        out.push(audio.samples[start:start + 65_536])
    return out.finish()
