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
    protocol: dict[str, Any] | None = Field(default=None, description="How the scores were measured: 'text' (e.g. "
                                            "'grouped 5-fold, 3 repeats, 4 groups'), groups' count and sizes, and "
                                            "for whom the scores hold ('scores_for').")
    leakage: dict[str, Any] | None = Field(default=None, description="The leakage check (no groups given): random-fold "
                                           "against clustered-fold score, and whether it warns.")
    trust: dict[str, Any] | None = Field(default=None, description="Calibration (ECE before/after), prediction sets "
                                         "(level, out-of-fold coverage) and the out-of-distribution threshold.")


class Label(BaseModel):
    label: str
    probability: float


class Unlike(BaseModel):
    score: float = Field(description="Cosine distance to the nearest training examples in the backbone's embedding.")
    flag: bool = Field(description="True when the input is unlike anything the model learned: its distance is above "
                                   "the threshold that flags 5% of inputs like the training ones.")
    text: str = Field(description="The flag in words ('unlike anything it learned'), or empty.")


class Prediction(BaseModel):
    input: str = Field(description="The uploaded file's name, or the text.")
    label: str
    top: list[Label]
    set: list[str] = Field(default_factory=list, description="The prediction set: labels that together hold the "
                           "true one with the stated coverage (set_level); one label means the model is sure, none "
                           "that no label is likely enough for that coverage.")
    set_level: float | None = Field(default=None, description="The coverage the set is built for (0.9 by default).")
    set_text: str = Field(default="", description="The set in words: 'ants', 'ants or bees: the model is not sure', "
                          "or, for an empty set, that no label is likely enough.")
    ood: Unlike | None = Field(default=None, description="Whether the input is unlike anything the model learned "
                               "(null for a model saved without the detector).")


class InputError(BaseModel):
    input: str = Field(description="The uploaded file's name.")
    error: str = Field(description="Why it could not be read.")


class PredictResponse(BaseModel):
    model: str
    predictions: list[Prediction]
    errors: list[InputError] = Field(default_factory=list, description="Files of the batch that could not be read "
                                     "(the others are answered); empty when all were.")


class ErrorResponse(BaseModel):
    error: str
    detail: Any = None
