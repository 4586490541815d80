"""Service settings, read from ``HANDFUL_*`` environment variables with pydantic-settings."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from handful.data.decode import MAX_AUDIO_SECONDS, MAX_IMAGE_PIXELS


class Settings(BaseSettings):
    """Limits and the optional API key of the HTTP service.

    Example:
        >>> Settings(max_batch=8).max_batch
        8
    """

    model_config = SettingsConfigDict(env_prefix="HANDFUL_", extra="ignore", frozen=True)

    api_key: SecretStr | None = Field(default=None, description="When set, every /v1 call needs it in X-API-Key.")
    max_upload_mb: float = Field(default=20.0, gt=0, description="Largest request body, in megabytes.")
    max_batch: int = Field(default=32, ge=1, description="Most files or texts in one prediction request.")
    max_text_chars: int = Field(default=10_000, ge=1, description="Longest text accepted, in characters.")
    # Tighter than the library's own limits, never looser: the model decodes its inputs again with those.
    max_image_pixels: int = Field(default=25_000_000, ge=1, le=MAX_IMAGE_PIXELS,
                                  description="Largest image accepted, in pixels (width x height).")
    max_audio_seconds: float = Field(default=120.0, gt=0, le=MAX_AUDIO_SECONDS,
                                     description="Longest audio clip accepted, in seconds.")
    # Per request, summed over its files, read from the headers before anything is decoded: one request of many
    # small files that each pass the per-file limits must not take the server's memory.
    max_request_pixels: int = Field(default=50_000_000, ge=1,
                                    description="Most pixels in one request, summed over its images.")
    max_request_samples: int = Field(default=20_000_000, ge=1,
                                     description="Most audio samples (frames x channels) in one request, summed "
                                     "over its clips.")

    @field_validator("api_key", mode="before")
    @classmethod
    def _blank_key_means_none(cls, value: object) -> object:
        """``HANDFUL_API_KEY=`` (set but empty) means no key, not a key anyone matches by sending nothing."""
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)
