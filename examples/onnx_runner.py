"""Run a model exported by `handful export` with onnxruntime, numpy and pillow only (`tokenizers` for text).

Usage: python onnx_runner.py models/defects.onnx.json photo1.jpg photo2.jpg   (texts instead, for a text model)
"""

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime
from PIL import Image, ImageOps


def image_array(path, p):
    image = ImageOps.exif_transpose(Image.open(path))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
    image, size = image.convert("RGB"), p["size"]
    if p["resize"] == "shorter_side_centre_crop":  # shorter side to p["shorter_side"], then a centre square
        scale = p["shorter_side"] / min(image.size)
        image = image.resize((max(size, round(image.width * scale)), max(size, round(image.height * scale))),
                             Image.Resampling.BICUBIC)
        left, top = (image.width - size) // 2, (image.height - size) // 2
        image = image.crop((left, top, left + size, top + size))
    else:  # "stretch"
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    pixels = np.asarray(image, dtype=np.float32) / p["divide_by"]
    return ((pixels - np.float32(p["mean"])) / np.float32(p["std"])).transpose(2, 0, 1)


def predict_proba(sidecar, inputs):
    meta = json.loads(Path(sidecar).read_text(encoding="utf-8"))
    p = meta["preprocessing"]
    session = onnxruntime.InferenceSession(Path(sidecar).with_name(meta["onnx"]["file"]))
    if p["kind"] == "image":
        feeds = {"image": np.stack([image_array(path, p) for path in inputs])}
    else:
        from tokenizers import Tokenizer  # the tokenizer file pads and truncates as the model expects

        encoded = Tokenizer.from_file(str(Path(sidecar).with_name(p["tokenizer"]))).encode_batch(list(inputs))
        feeds = {"input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
                 "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64)}
    return meta["classes"], session.run(["probabilities"], feeds)[0]


def prediction_sets(sidecar, classes, probabilities):
    """Each input's set of classes that holds the true one `level` of the time (the sidecar's rule)."""
    sets = json.loads(Path(sidecar).read_text(encoding="utf-8")).get("prediction_sets")
    if sets is None:
        return [[] for _ in probabilities]
    limits = np.array([np.inf if t is None else t for t in sets["thresholds"]])
    return [[c for c, inside in zip(classes, 1.0 - row <= limits + 1e-12, strict=True) if inside]
            for row in probabilities]


if __name__ == "__main__":
    classes, probabilities = predict_proba(sys.argv[1], sys.argv[2:])
    sets = prediction_sets(sys.argv[1], classes, probabilities)
    for source, row, found in zip(sys.argv[2:], probabilities, sets, strict=True):
        print(f"{source}\t{classes[row.argmax()]}\t{row.max():.3f}\t{' or '.join(found) or '(none)'}")
