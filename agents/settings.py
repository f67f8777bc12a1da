"""Settings: pydantic-settings, env prefix STEPVOX_, optional TOML file (STEPVOX_CONFIG)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import platformdirs
from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def _default_home() -> Path:
    return Path(platformdirs.user_data_dir("stepvox", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STEPVOX_", extra="ignore")

    home: Path = Field(default_factory=_default_home)
    policy: str = "embedded"
    model_dir: Path | None = None  # Step-Audio 2 checkpoint directory
    remote_url: str | None = None  # OpenAI-compatible Step-Audio 2 server
    remote_model: str = "step-audio-2-mini"
    remote_api_key: str | None = None
    # step-audio-2
    device: str = "auto"
    dtype: str = "auto"
    max_new_tokens: int | None = None
    temperature: float = 0.7
    token2wav_dir: Path | None = None
    # retrieval
    embedder: str | None = None  # sentence-transformers model name or path (None: offline MiniLM)
    max_input_seconds: float = 120.0
    # embedded policy
    route_threshold: float = 0.55  # min similarity to route to a tool
    answer_threshold: float = 0.35  # min passage relevance for an extractive answer
    tool_timeout_s: float = 8.0

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml = os.environ.get("STEPVOX_CONFIG")
        if toml:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)

    @property
    def checkpoints_path(self) -> Path:
        return self.home / "conversations.sqlite"

    @property
    def voices_dir(self) -> Path:
        return self.home / "voices"

    @property
    def corpora_dir(self) -> Path:
        return self.home / "corpora"

    @property
    def audio_dir(self) -> Path:
        return self.home / "audio"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    s = Settings()
    s.home.mkdir(parents=True, exist_ok=True)
    return s
