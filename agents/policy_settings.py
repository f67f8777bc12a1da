"""What each policy's constructor gets from the settings (`Assistant.from_settings`)."""

from __future__ import annotations

from typing import Any


def policy_settings(settings: Any, name: str, given: dict[str, Any]) -> dict[str, Any]:
    """The constructor options of policy `name` that the settings decide (options `given` by
    the caller win over these)."""
    if name == "embedded":
        return {"route_threshold": settings.route_threshold,
                "answer_threshold": settings.answer_threshold}
    if name == "step-audio-2":
        return {"model_dir": settings.model_dir, "device": settings.device, "dtype": settings.dtype,
                "max_new_tokens": settings.max_new_tokens, "temperature": settings.temperature,
                "token2wav_dir": settings.token2wav_dir}
    if name == "remote":
        return {"base_url": settings.remote_url, "model": settings.remote_model,
                "api_key": settings.remote_api_key, "temperature": settings.temperature,
                "token2wav_dir": settings.token2wav_dir}
    if name == "chat" and isinstance(given.get("model"), str | None):
        # the brain server of the settings (a chat model object given instead needs none)
        return {"base_url": settings.brain_url, "model": settings.brain_model,
                "api_key": settings.brain_api_key, "temperature": settings.temperature,
                "max_tokens": settings.max_new_tokens}
    return {}
