"""Inputs: folders, tables and lists become validated Datasets; every problem is reported with its file or row."""

from handful.data.dataset import Dataset, Example, LoadedData, Problem, summarise
from handful.data.decode import Audio, BadInputError, load_audio, load_image
from handful.data.sources import from_inputs, from_texts, load

__all__ = [
    "Audio",
    "BadInputError",
    "Dataset",
    "Example",
    "LoadedData",
    "Problem",
    "from_inputs",
    "from_texts",
    "load",
    "load_audio",
    "load_image",
    "summarise",
]
