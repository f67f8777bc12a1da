"""token2wav: Step-Audio 2 speech tokens (0..6560, 25 Hz) -> 24 kHz speech in any voice.

`Token2Wav.from_pretrained(dir)` loads a checkpoint's `token2wav/` folder (flow.yaml,
flow.pt, hift.pt, speech_tokenizer_v2_25hz.onnx, campplus.onnx); `synthesize` makes
one waveform, `open_stream` gives a push-based `Token2WavStream` (`push(tokens)` returns
the pieces that became ready, `finish()` the rest) and `stream` yields pieces as token
chunks arrive. `Token2WavSpeaker` is the
`model.policy.Speaker` the Step-Audio 2 policies use; `write_tiny_token2wav` writes a
tiny random-weight folder in the official layout for tests and CI.
"""

from model.token2wav.config import Token2WavConfig, parse_flow_yaml, write_flow_yaml
from model.token2wav.frontend import PromptFeatures, PromptFrontend
from model.token2wav.loading import CheckpointError
from model.token2wav.speaker import Token2WavSpeaker, default_prompt_path
from model.token2wav.synthesis import (
    MAX_TOKEN,
    SAMPLE_RATE,
    TOKEN_RATE,
    Token2Wav,
    Token2WavStream,
    VoiceState,
    resolve_token2wav_dir,
    validate_tokens,
)
from model.token2wav.tiny import TINY_CONFIG, write_tiny_token2wav

__all__ = [
    "CheckpointError",
    "MAX_TOKEN",
    "PromptFeatures",
    "PromptFrontend",
    "SAMPLE_RATE",
    "TINY_CONFIG",
    "TOKEN_RATE",
    "Token2Wav",
    "Token2WavConfig",
    "Token2WavSpeaker",
    "Token2WavStream",
    "VoiceState",
    "default_prompt_path",
    "parse_flow_yaml",
    "resolve_token2wav_dir",
    "validate_tokens",
    "write_flow_yaml",
    "write_tiny_token2wav",
]
