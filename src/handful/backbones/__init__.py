"""Feature extractors (pretrained encoders, classical baselines, tiny test nets) and the on-disk feature cache."""

from handful.backbones.registry import (
    Backbone,
    BackboneSpec,
    get_backbone,
    get_spec,
    list_backbones,
    register_backbone,
)

__all__ = ["Backbone", "BackboneSpec", "get_backbone", "get_spec", "list_backbones", "register_backbone"]
