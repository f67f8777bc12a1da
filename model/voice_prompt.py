"""The voice prompt: the recording whose voice token2wav speaks in (a few seconds of speech).

`load_prompt` is the one place its bounds are checked: decoded by `core.audio`, which refuses
(while decoding) prompts over 30 s, NaN or infinite samples, prompts under 0.2 s and silent
ones. It lives outside `model.token2wav` so a command can check a prompt before importing
torch and loading the weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core import audio as core_audio

#: the voice prompt's bounds: the S3 tokenizer reads at most 30 s; under 0.2 s gives no tokens
MIN_PROMPT_SECONDS = 0.2
MAX_PROMPT_SECONDS = 30.0


def load_prompt(path: Path) -> tuple[np.ndarray, int]:
    """A voice prompt recording: mono float32 samples and the file's rate. Raises ValueError
    naming the file and the problem."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, not a recording")
    if not path.is_file():
        raise ValueError(f"{path}: prompt file not found")
    try:
        audio, sr = core_audio.load(
            path, max_seconds=MAX_PROMPT_SECONDS, min_seconds=MIN_PROMPT_SECONDS, allow_silence=False
        )
    except core_audio.AudioTooLongError as e:
        length = f"{e.seconds:.1f} s, longer" if e.stated else "longer"
        raise ValueError(
            f"{path}: prompt is {length} than {MAX_PROMPT_SECONDS:g} s (the speech tokenizer's limit)"
        ) from None
    except core_audio.AudioContentError as e:
        raise ValueError(f"{path}: unusable voice prompt: {e.reason}") from None
    except core_audio.AudioDecodeError as e:
        raise ValueError(f"{path}: not a readable audio file ({e.reason})") from None
    return audio, int(sr)
