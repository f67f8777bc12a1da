"""Neutralise instruction / tool-call markup in untrusted retrieved text.

Retrieved passages and web results are data. Before a prompt builder embeds them next
to real control tokens, markup that a policy could mistake for its own structure is
defused: chat special tokens (`<|BOT|>`, `<|im_start|>`, ...), tool-call and audio tags
(`<tool_call>`, `<audio_patch>`, `<tts_start>`, `<think>`, ...), and control characters.
The words stay readable; only the delimiters change (`<` -> `‹`, `>` -> `›`).
"""

from __future__ import annotations

import re

# `<|anything|>` special tokens (Step-Audio 2, Qwen, Llama-3 style `<|eot_id|>`)
_SPECIAL = re.compile(r"<\|\s*([^<>|]{0,64}?)\s*\|>")
# `[INST]`, `<<SYS>>` (Llama-2 style)
_LLAMA = re.compile(r"\[/?INST\]|<</?SYS>>", re.I)
_TAG_NAMES = (
    r"tool_call|tool_calls|tool_response|tool_result|function_call|function|tools|"
    r"audio_start|audio_end|audio_patch|tts_start|tts_end|tts_pad|audio|think|"
    r"system|assistant|user|human|im_start|im_end|s|bos|eos|pad|unk|endoftext"
)
_TAGS = re.compile(rf"<\s*(/?)\s*({_TAG_NAMES})\b([^<>]{{0,200}})>", re.I)
_CONTROL = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def sanitize_passage_text(text: str) -> str:
    """Return `text` with special tokens and tool/role markup defused."""
    if not text:
        return ""
    text = _CONTROL.sub(" ", text)
    text = _SPECIAL.sub(lambda m: f"‹{m.group(1).strip()}›", text)
    text = _LLAMA.sub(
        lambda m: (
            m.group(0).replace("[", "(").replace("]", ")").replace("<", "‹").replace(">", "›")
        ),
        text,
    )
    text = _TAGS.sub(lambda m: f"‹{m.group(1)}{m.group(2)}{m.group(3)}›", text)
    return text
