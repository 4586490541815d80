"""The pretrained tails of the fine-tunable backbones: torch modules from trunk rows to the pooled embedding.

A trunk backbone (``name:trunk``) caches the activations of a backbone's frozen part; its tail is the rest of
the network, built here with the package's pretrained weights, which the ``finetune`` learner trains. Each tail
maps a float32 tensor of trunk rows ``(n, trunk dim)`` to the embedding the frozen backbone would give
(before any normalisation), and has ``out_dim``. This module imports torch; the backbone modules import it only
inside their tail factories, so listing backbones stays cheap.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class EfficientNetTail(nn.Module):
    """The last MBConv block(s), the 1x1 convolutional head and global average pooling of an EfficientNet-Lite.

    Batch-norm layers keep their pretrained statistics while training (a few dozen images a batch would give
    noisy ones); the blocks' drop-connect (stochastic depth) is active in training as in the original schedule.
    """

    def __init__(self, model: Any, blocks: int, channels: int, size: int) -> None:
        super().__init__()
        first = len(model._blocks) - blocks
        self.blocks = nn.ModuleList(model._blocks[first:])
        rate = float(model._global_params.drop_connect_rate or 0.0)
        self.drop_rates = [rate * (first + i) / len(model._blocks) for i in range(blocks)]
        self.conv_head, self.bn, self.act = model._conv_head, model._bn1, model._swish
        self.channels, self.size, self.out_dim = channels, size, int(model._bn1.num_features)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        x = rows.view(-1, self.channels, self.size, self.size)
        for block, rate in zip(self.blocks, self.drop_rates, strict=True):
            x = block(x, drop_connect_rate=rate)  # the block applies it only in training mode
        return self.act(self.bn(self.conv_head(x))).mean((2, 3))

    def train(self, mode: bool = True) -> EfficientNetTail:
        super().train(mode)
        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eval()
        return self


class _SelfAttention(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)


class _Output(nn.Module):
    def __init__(self, n_in: int, hidden: int, eps: float, dropout: float) -> None:
        super().__init__()
        self.dense = nn.Linear(n_in, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class _Attention(nn.Module):
    def __init__(self, hidden: int, eps: float, dropout: float) -> None:
        super().__init__()
        self.self = _SelfAttention(hidden)
        self.output = _Output(hidden, hidden, eps, dropout)


class _Intermediate(nn.Module):
    def __init__(self, hidden: int, inner: int) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden, inner)


class BertLayer(nn.Module):
    """One post-norm BERT encoder layer; its parameter names are those of Hugging Face's ``BertLayer``, so a
    checkpoint's ``encoder.layer.<i>.*`` tensors load into it directly."""

    def __init__(self, hidden: int, heads: int, inner: int, eps: float, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout_p = heads, dropout
        self.attention = _Attention(hidden, eps, dropout)
        self.intermediate = _Intermediate(hidden, inner)
        self.output = _Output(inner, hidden, eps, dropout)

    def forward(self, h: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        n, tokens, hidden = h.shape
        attention = self.attention.self

        def heads(x: torch.Tensor) -> torch.Tensor:
            return x.view(n, tokens, self.heads, hidden // self.heads).transpose(1, 2)

        context = F.scaled_dot_product_attention(
            heads(attention.query(h)), heads(attention.key(h)), heads(attention.value(h)),
            attn_mask=keep[:, None, None, :], dropout_p=self.dropout_p if self.training else 0.0,
        )
        attended = self.attention.output(context.transpose(1, 2).reshape(n, tokens, hidden), h)
        return self.output(F.gelu(self.intermediate.dense(attended)), attended)


class BertTail(nn.Module):
    """The last BERT layers and masked mean pooling, on rows of ``tokens x hidden`` states then the token mask.

    Padding beyond the longest sentence of a batch is dropped before the layers: it changes nothing (masked
    keys, pooled with the mask) and costs most of the time on short sentences.
    """

    def __init__(self, layers: list[BertLayer], tokens: int, hidden: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.tokens, self.hidden, self.out_dim = tokens, hidden, hidden

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        states = rows[:, : self.tokens * self.hidden].view(-1, self.tokens, self.hidden)
        mask = rows[:, self.tokens * self.hidden :] > 0.5
        length = max(int(mask.sum(dim=1).max().item()), 1) if len(rows) else 1
        h, keep = states[:, :length], mask[:, :length]
        for layer in self.layers:
            h = layer(h, keep)
        weights = keep.to(h.dtype).unsqueeze(-1)
        return (h * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


def bert_tail(weights_file: str, config: dict[str, Any], layers: int, tokens: int) -> BertTail:
    """The last ``layers`` layers of a BERT checkpoint (safetensors, so no pickle) as a :class:`BertTail`."""
    from safetensors.torch import load_file

    state = load_file(weights_file)
    total, hidden = int(config["num_hidden_layers"]), int(config["hidden_size"])
    built = []
    for index in range(total - layers, total):
        layer = BertLayer(hidden, int(config["num_attention_heads"]), int(config["intermediate_size"]),
                          float(config["layer_norm_eps"]), float(config["hidden_dropout_prob"]))
        prefix = f"encoder.layer.{index}."
        layer.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
        built.append(layer)
    return BertTail(built, tokens, hidden)


class ProjectionTail(nn.Module):
    """``tanh(rows @ weights)``: the fixed random projection of a tiny test backbone, made trainable."""

    def __init__(self, weights: np.ndarray) -> None:
        super().__init__()
        self.linear = nn.Linear(weights.shape[0], weights.shape[1], bias=False)
        with torch.no_grad():
            self.linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(weights.T)))
        self.out_dim = int(weights.shape[1])

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.linear(rows))
