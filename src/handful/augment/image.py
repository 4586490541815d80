"""Label-preserving image transforms: PIL and numpy only (no torchvision, no OpenCV).

Each transform takes an RGB ``PIL.Image``, a numpy ``Generator`` and a strength (``light``, ``medium``,
``strong``) and returns an RGB image of the same size. Magnitudes are small enough that a photo of a bee stays a
photo of a bee; tasks that are not invariant to one of them (text in images, left/right) switch it off.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

Transform = Callable[[Image.Image, np.random.Generator, str], Image.Image]

# Per strength: how often each transform is applied to a view, and how hard.
PROBABILITY = {"light": 0.5, "medium": 0.5, "strong": 0.7}
CROP_MIN_AREA = {"light": 0.6, "medium": 0.4, "strong": 0.25}
ROTATE_DEGREES = {"light": 8.0, "medium": 15.0, "strong": 25.0}
JITTER = {"light": 0.15, "medium": 0.3, "strong": 0.45}
BLUR_FRACTION = {"light": 0.004, "medium": 0.008, "strong": 0.015}  # Gaussian radius, as a share of the short side
NOISE_SIGMA = {"light": 4.0, "medium": 8.0, "strong": 16.0}  # in 0-255 grey levels
CUTOUT_FRACTION = {"light": 0.15, "medium": 0.25, "strong": 0.35}  # side of the square, as a share of the short side


def _mean_colour(image: Image.Image) -> tuple[int, int, int]:
    r, g, b = (int(round(v)) for v in np.asarray(image, dtype=np.float32).reshape(-1, 3).mean(axis=0))
    return r, g, b


def crop(image: Image.Image, rng: np.random.Generator, strength: str) -> Image.Image:
    """Random resized crop: a region of 25-100% of the area (by strength), aspect 3:4 to 4:3, resized back."""
    width, height = image.size
    for _ in range(10):
        area = rng.uniform(CROP_MIN_AREA[strength], 1.0) * width * height
        aspect = float(np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3))))
        w, h = int(round(np.sqrt(area * aspect))), int(round(np.sqrt(area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            left, top = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
            return image.resize((width, height), Image.Resampling.BILINEAR, box=(left, top, left + w, top + h))
    return image.copy()


def flip(image: Image.Image, rng: np.random.Generator, strength: str) -> Image.Image:
    """Mirror left to right (applied to about half the views); switch off where left and right differ."""
    return ImageOps.mirror(image)


def rotate(image: Image.Image, rng: np.random.Generator, strength: str) -> Image.Image:
    """Rotate by a small angle (up to 8, 15 or 25 degrees); uncovered corners take the image's mean colour."""
    limit = ROTATE_DEGREES[strength]
    angle = float(rng.uniform(-limit, limit))
    return image.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=_mean_colour(image))


def colour(image: Image.Image, rng: np.random.Generator, strength: str) -> Image.Image:
    """Brightness, contrast and saturation each scaled by a factor near 1, in random order."""
    amount = JITTER[strength]
    enhancers = [ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color]
    for index in rng.permutation(len(enhancers)):
        image = enhancers[index](image).enhance(float(rng.uniform(1 - amount, 1 + amount)))
    return image


def blur(image: Image.Image, rng: np.random.Generator, strength: str) -> Image.Image:
    """Gaussian blur with a radius up to a small share of the shorter side."""
    radius = float(rng.uniform(0.2, 1.0)) * BLUR_FRACTION[strength] * min(image.size)
    return image.filter(ImageFilter.GaussianBlur(radius=max(radius, 0.3)))


def noise(image: Image.Image, rng: np.random.Generator, strength: str) -> Image.Image:
    """Additive Gaussian pixel noise, clipped to 0-255."""
    pixels = np.asarray(image, dtype=np.float32)
    sigma = float(rng.uniform(0.5, 1.0)) * NOISE_SIGMA[strength]
    noisy = pixels + rng.normal(0.0, sigma, pixels.shape).astype(np.float32)
    return Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8), mode="RGB")


def cutout(image: Image.Image, rng: np.random.Generator, strength: str) -> Image.Image:
    """One square (up to 15, 25 or 35% of the shorter side) filled with the image's mean colour (DeVries 2017)."""
    width, height = image.size
    side = max(1, int(round(float(rng.uniform(0.5, 1.0)) * CUTOUT_FRACTION[strength] * min(width, height))))
    cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
    half = side // 2
    box = (max(0, cx - half), max(0, cy - half), min(width, cx + half + 1), min(height, cy + half + 1))
    out = image.copy()
    out.paste(_mean_colour(image), box)
    return out


# In the order they are applied: geometry first, then colour, then degradations.
TRANSFORMS: dict[str, Transform] = {
    "crop": crop, "flip": flip, "rotate": rotate, "colour": colour, "blur": blur, "noise": noise, "cutout": cutout,
}
# Degradations are rarer than geometry: a view that is blurred, noisy and cut at once is no longer a fair example.
RATE = {"crop": 1.0, "flip": 1.0, "rotate": 1.0, "colour": 1.0, "blur": 0.4, "noise": 0.4, "cutout": 0.6}


def augment_image(image: Image.Image, rng: np.random.Generator, strength: str, enabled: list[str]) -> Image.Image:
    """One augmented view: each enabled transform applied with its probability, in the fixed order above."""
    out = image.convert("RGB")
    for name, transform in TRANSFORMS.items():
        # Draw for every transform, enabled or not, so switching one off leaves the others' draws unchanged.
        chance = rng.random()
        child = np.random.default_rng(rng.integers(2**63))
        if name in enabled and chance < PROBABILITY[strength] * RATE[name]:
            out = transform(out, child, strength)
    return out
