"""Settings: pydantic-settings, env prefix STEPVOX_, optional TOML file (STEPVOX_CONFIG).

They configure the `agents.Assistant` facade, so they live in `agents.settings`; this module
is the CLI's name for them."""

from agents.settings import Settings, get_settings

__all__ = ["Settings", "get_settings"]
