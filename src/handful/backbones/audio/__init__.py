"""Audio backbones: the MFCC baseline, aiSFX (sounds), Resemblyzer (voices) and log-mel EfficientNet-Lite0.

Every backbone takes :class:`handful.data.decode.Audio` at any sample rate, resamples it to the rate its
model expects, and handles clips from a fraction of a second up to minutes: short clips are zero-padded, long
ones are cut into windows whose embeddings are averaged. The heavy libraries (torch, librosa, aisfx,
resemblyzer) are imported inside the factories and methods, so importing this module stays cheap.
"""

from handful.backbones.audio import logmel, mfcc, sfx, speaker

__all__ = ["logmel", "mfcc", "sfx", "speaker"]
