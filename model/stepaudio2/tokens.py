"""Step-Audio 2 special tokens: names, the official id layout, and the ids a tokenizer uses.

The runtime never hard-codes ids beyond the published ranges: `SpecialIds.from_tokenizer`
reads every id from the checkpoint's tokenizer files by name. The table below is only
used to *write* tokenizer files for tiny test checkpoints (`make-tiny`), placing each
token at the id the public Step-Audio-2-mini tokenizer uses.

Where the ids come from (public sources, read for facts):

* text ids < 151688, `<audio_k>` = 151696 + k for k in 0..6561 (`<audio_6561>` is the
  audio pad), vocab 158720 — vLLM-Omni's `StepAudio2TokenConfig`, the official
  `stepaudio2.py` (`i < 151688` is text, `i > 151695` is audio, code = id - 151696).
* `<audio_start>` 151688 — the checkpoint's `modeling_step_audio_2.py` inserts the audio
  features right after token 151688; `<audio_end>` 151689 — a public Rust port's token table.
* `<audio_patch>` 151690 — vLLM's `step_audio_2.py` (`AUDIO_PATCH_TOKEN_ID = 151690`).
* `<tts_start>` 151693, `<tts_end>` 151694 — comments in vLLM's `StepAudio2Tokenizer`.
* `<|EOT|>` 151665 — vLLM's `StepAudio2TextConfig` eos list `[151643, 151645, 151665]` and
  the Rust port's `EOT_TOKEN`.
* Qwen2.5 specials 151643..151664 (`<|endoftext|>`, ..., `<tool_call>` 151657,
  `</tool_call>` 151658, ...) — the Qwen2.5 tokenizer the decoder is initialised from.
* NOT verified (no public source found): `<|BOT|>` (placed at 151666) and `<tts_pad>`
  (placed at 151695). Code looks them up by name, so a real checkpoint's ids win.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AUDIO_OFFSET = 151696
N_AUDIO_CODES = 6561  # valid speech codes 0..6560
AUDIO_PAD_CODE = 6561  # <audio_6561>
TEXT_LIMIT = 151688

BOT = "<|BOT|>"
EOT = "<|EOT|>"
ENDOFTEXT = "<|endoftext|>"
AUDIO_START = "<audio_start>"
AUDIO_END = "<audio_end>"
AUDIO_PATCH = "<audio_patch>"
TTS_START = "<tts_start>"
TTS_END = "<tts_end>"
TTS_PAD = "<tts_pad>"
TOOL_CALL = "<tool_call>"
TOOL_CALL_END = "</tool_call>"

QWEN_SPECIALS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>",
    "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>",
]  # fmt: skip

OFFICIAL_IDS: dict[str, int] = {name: 151643 + i for i, name in enumerate(QWEN_SPECIALS)}
OFFICIAL_IDS.update(
    {
        EOT: 151665,
        BOT: 151666,  # unverified
        AUDIO_START: 151688,
        AUDIO_END: 151689,
        AUDIO_PATCH: 151690,
        TTS_START: 151693,
        TTS_END: 151694,
        TTS_PAD: 151695,  # unverified
    }
)


def audio_token(code: int) -> str:
    return f"<audio_{code}>"


@dataclass(frozen=True)
class SpecialIds:
    """Ids of the control tokens, read from a tokenizer by name."""

    bot: int
    eot: int
    endoftext: int
    audio_start: int
    audio_end: int
    audio_patch: int
    tts_start: int
    tts_end: int
    tts_pad: int | None
    audio_offset: int
    audio_pad: int

    @classmethod
    def from_tokenizer(cls, tok: Any) -> SpecialIds:
        def need(name: str) -> int:
            i = tok.convert_tokens_to_ids(name)
            if i is None or i == tok.unk_token_id or not isinstance(i, int) or i < 0:
                raise ValueError(f"tokenizer has no {name!r} token")
            return i

        def maybe(name: str) -> int | None:
            try:
                return need(name)
            except ValueError:
                return None

        offset = need(audio_token(0))
        return cls(
            bot=need(BOT),
            eot=need(EOT),
            endoftext=need(ENDOFTEXT),
            audio_start=need(AUDIO_START),
            audio_end=need(AUDIO_END),
            audio_patch=need(AUDIO_PATCH),
            tts_start=need(TTS_START),
            tts_end=need(TTS_END),
            tts_pad=maybe(TTS_PAD),
            audio_offset=offset,
            audio_pad=maybe(audio_token(AUDIO_PAD_CODE)) or offset + AUDIO_PAD_CODE,
        )

    def is_audio(self, token_id: int) -> bool:
        return token_id >= self.audio_offset

    def code(self, token_id: int) -> int:
        return token_id - self.audio_offset


# -- tiny tokenizer files ------------------------------------------------------
_CORPUS = (
    "Hello! What time is it in Tokyo? The weather in Paris is sunny today. "
    "I can search the web, look up the date and time, check the weather, and find a voice. "
    "Sure, here is what I found. Sorry, I could not find that. Let me check. "
    "function get_time get_weather web_search audio_search retrieve_knowledge "
    '{"city": "Tokyo"} {"query": "news"} {"location": "Paris"} 0123456789 '
)


def _filler(i: int) -> str:
    # byte-level-alphabet word so a random model's text decodes to readable gibberish;
    # every 8th ends a sentence, so speech synthesis of that text gets sentence breaks
    n, s = i, ""
    while True:
        s = "abcdefghijklmnopqrstuvwxyz"[n % 26] + s
        n //= 26
        if n == 0:
            return "\u0120zq" + s + ("." if i % 8 == 0 else "")


def write_tokenizer_files(out_dir: Path, base_vocab_size: int = 600) -> None:
    """Write tokenizer.json / tokenizer_config.json with every special at its official id.

    A small byte-level BPE is trained on a few sentences; ids between its vocabulary and
    151643 are filled with placeholder words so that all ids keep the official layout.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=base_vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([_CORPUS] * 4, trainer)
    data = json.loads(tok.to_str())
    vocab: dict[str, int] = data["model"]["vocab"]
    for i in range(len(vocab), 151643):
        vocab[_filler(i)] = i
    by_id = {v: k for k, v in OFFICIAL_IDS.items()}
    added = []
    for i in range(151643, AUDIO_OFFSET + AUDIO_PAD_CODE + 1):
        if i >= AUDIO_OFFSET:
            content = audio_token(i - AUDIO_OFFSET)
        else:
            content = by_id.get(i, f"<|reserved_{i}|>")
        added.append(
            {"id": i, "content": content, "single_word": False, "lstrip": False,
             "rstrip": False, "normalized": False, "special": True}
        )  # fmt: skip
    data["added_tokens"] = added
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False))
    cfg = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": 16384,
        "eos_token": EOT,
        "pad_token": ENDOFTEXT,
        "unk_token": None,
        "bos_token": None,
        "clean_up_tokenization_spaces": False,
        "padding_side": "left",
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2))
    (out_dir / "special_tokens_map.json").write_text(
        json.dumps({"eos_token": EOT, "pad_token": ENDOFTEXT}, indent=2)
    )


def load_tokenizer(model_dir: str | Path):
    """The checkpoint's tokenizer (fast), as transformers loads it."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_dir))
