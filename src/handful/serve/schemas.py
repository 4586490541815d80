"""Request and response bodies of the HTTP API (they also make the OpenAPI schema at /openapi.json)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TextsRequest(BaseModel):
    """Texts to classify with a text model."""

    model_config = ConfigDict(extra="forbid")

    texts: list[str] = Field(min_length=1, description="One prediction per text, in order.")
    top_k: int = Field(default=3, ge=1, le=100, description="How many labels to return per input.")


class Accuracy(BaseModel):
    value: float
    low: float
    high: float
    source: str = Field(description="'holdout' (scored on held-out data) or 'cross-validation' (balanced accuracy).")


class ModelInfo(BaseModel):
    name: str
    modality: str
    classes: list[str]
    accuracy: Accuracy | None
    version: str | None = Field(default=None, description="The registry version served (e.g. 'v3'); null for a "
                                                          "plain model folder.")


class ModelList(BaseModel):
    models: list[ModelInfo]


class ModelCard(ModelInfo):
    backbone: str
    learner: str
    licence: str
    n_examples: int
    metrics: dict[str, Any] = Field(description="cv_balanced_accuracy and cv_accuracy (mean, std, low, high, n), "
                                                "holdout, baseline.")


class Label(BaseModel):
    label: str
    probability: float


class Prediction(BaseModel):
    input: str = Field(description="The uploaded file's name, or the text.")
    label: str
    top: list[Label]


class PredictResponse(BaseModel):
    model: str
    predictions: list[Prediction]


class ErrorResponse(BaseModel):
    error: str
    detail: Any = None
