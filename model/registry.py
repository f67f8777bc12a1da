"""Policies by name: `name -> "module:Class"`. A new policy is one line here (or a call to
`register`); nothing else in `model/` has to know it."""

from __future__ import annotations

import importlib
import inspect
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


def policy_options(name: str) -> tuple[str, ...] | None:
    """The keyword options a policy's constructor takes (None: it takes any keyword)."""
    params = inspect.signature(policy_class(name)).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return tuple(sorted(p.name for p in params if p.kind in named))


def check_options(name: str, options: dict[str, Any]) -> None:
    """TypeError (one line, naming it and the valid ones) when an option is not among the
    policy's constructor parameters; ValueError for an unknown policy."""
    valid = policy_options(name)
    unknown = sorted(set(options) - set(valid)) if valid is not None else []
    if unknown:
        raise TypeError(
            f"unknown option {unknown[0]!r} for the {name} policy; it takes: {', '.join(valid or ()) or 'none'}"
        )


def get_policy(name: str = "embedded", **options: Any) -> Policy:
    """Build a policy by name; options go to its constructor."""
    return policy_class(name)(**options)
