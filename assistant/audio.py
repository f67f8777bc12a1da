"""Audio input: decode wav/flac/ogg/mp3/m4a (any rate, any channels) to 16 kHz mono float32,
validating on the way. Decoding, mixing and resampling are `core.audio`'s; this layer adds the
checks and limits of user input. Every problem is an `AudioInputError` naming the file (the
CLI turns it into one line on stderr and exit code 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from assistant.errors import UserError
from core import audio as core_audio

TARGET_RATE = 16000


class AudioInputError(UserError):
    pass


def load_audio(path: str | Path, max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """Decode, mix to mono, resample to 16 kHz. Returns (samples, 16000)."""
    p = Path(path)
    if not p.exists():
        raise AudioInputError(f"{p}: file not found")
    if p.is_dir():
        raise AudioInputError(f"{p}: is a directory, not an audio file")
    if not p.is_file():
        raise AudioInputError(f"{p}: not a regular file")
    try:
        with p.open("rb") as f:
            empty = not f.read(1)
    except OSError as e:
        raise AudioInputError(f"{p}: cannot read ({e.strerror or e})") from None
    if empty:
        raise AudioInputError(f"{p}: empty file")
    try:
        data, rate = core_audio.decode(p, max_seconds=max_seconds)
    except core_audio.AudioTooLongError as e:
        length = f"is {e.seconds:.1f} s long, longer" if e.stated else "is longer"
        raise AudioInputError(
            f"{p}: audio {length} than the limit of {e.limit:g} s "
            "(set STEPVOX_MAX_INPUT_SECONDS to change it)"
        ) from None
    except core_audio.AudioContentError as e:  # NaN/inf samples
        raise AudioInputError(str(e)) from None
    except core_audio.AudioDecodeError as e:
        raise AudioInputError(f"{p}: cannot decode audio ({e.reason})") from None
    except FileNotFoundError:  # removed between the checks above and the decode
        raise AudioInputError(f"{p}: file not found") from None
    if data.size == 0 or data.shape[0] == 0:
        raise AudioInputError(f"{p}: contains zero audio samples")
    return core_audio.resample(core_audio.to_mono(data), rate, TARGET_RATE), TARGET_RATE
