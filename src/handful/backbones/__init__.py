"""Feature extractors (pretrained encoders, classical baselines, tiny test nets) and the on-disk feature cache."""

# Importing the families runs their @register_backbone decorators; the heavy libraries they use are imported
# inside their factories, so this stays cheap.
from handful.backbones import audio, image, speech, text, tiny  # noqa: F401  (registers them)
from handful.backbones.registry import (
    Backbone,
    BackboneSpec,
    get_backbone,
    get_spec,
    list_backbones,
    register_backbone,
)

__all__ = ["Backbone", "BackboneSpec", "get_backbone", "get_spec", "list_backbones", "register_backbone"]
