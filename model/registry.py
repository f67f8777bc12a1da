"""Policies by name: `name -> "module:Class"`. A new policy is one line here (or a call to
`register`); nothing else in `model/` has to know it."""

from __future__ import annotations

import importlib
from typing import Any

from model.policy import Policy

POLICIES: dict[str, str] = {
    "embedded": "model.embedded.policy:EmbeddedPolicy",
    "step-audio-2": "model.stepaudio2.policy:StepAudio2Policy",
    "remote": "model.remote:RemotePolicy",
    "chat": "model.chat_brain:ChatBrainPolicy",
}


def register(name: str, target: str) -> None:
    """Make `get_policy(name)` build `target` ("package.module:Class")."""
    if ":" not in target:
        raise ValueError(f"policy target {target!r}: expected 'module:Class'")
    POLICIES[name] = target


def policy_names() -> tuple[str, ...]:
    return tuple(POLICIES)


def policy_class(name: str) -> type:
    try:
        target = POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown policy {name!r} (choose {', '.join(POLICIES)})") from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)


def get_policy(name: str = "embedded", **options: Any) -> Policy:
    """Build a policy by name; options go to its constructor."""
    return policy_class(name)(**options)
