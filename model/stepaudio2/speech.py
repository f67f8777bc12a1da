"""The speaker of the Step-Audio 2 policies: token2wav for audio tokens, Piper otherwise.

A spoken Step-Audio 2 reply carries speech tokens; `model.token2wav.Token2WavSpeaker`
turns them into 24 kHz audio in the active voice. When token2wav cannot run (the
package is missing, the checkpoint has no `token2wav/` folder) or a reply has no audio
tokens (a text reply), the embedded Piper speaker reads the reply text instead.
`last_info["speech"]` says which one spoke the last reply ("token2wav" or
"embedded-tts-fallback", with the reason in "speech_detail"); the graph copies it into
the turn's JSON.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from model.events import AudioChunk
from model.policy import Speaker, VoiceSpec

TOKEN2WAV_RATE = 24000


def speech_mode(token2wav_dir: Path | None) -> tuple[str, str]:
    """("token2wav" | "embedded-tts-fallback", why)."""
    if token2wav_dir is None:
        return "embedded-tts-fallback", "no token2wav directory given"
    try:
        from model.token2wav import Token2WavSpeaker  # noqa: F401
    except ImportError:
        return "embedded-tts-fallback", "model.token2wav is not installed"
    if not Path(token2wav_dir).is_dir():
        return "embedded-tts-fallback", f"{token2wav_dir} does not exist"
    return "token2wav", str(token2wav_dir)


class StepAudio2Speaker:
    """Speaker protocol: token2wav when possible, the embedded Piper TTS as the fallback."""

    sample_rate = TOKEN2WAV_RATE

    def __init__(self, token2wav_dir: str | Path | None, device: str = "cpu") -> None:
        self.token2wav_dir = Path(token2wav_dir) if token2wav_dir else None
        self.device = device
        mode, why = speech_mode(self.token2wav_dir)
        self.last_info: dict[str, Any] = {"speech": mode, "speech_detail": why}
        self._token2wav: Speaker | None = None
        self._piper: Speaker | None = None

    def _t2w(self) -> Speaker:
        if self._token2wav is None:
            from model.token2wav import Token2WavSpeaker

            self._token2wav = Token2WavSpeaker(self.token2wav_dir, device=self.device)
        return self._token2wav

    def _tts(self) -> Speaker:
        if self._piper is None:
            from model.embedded.tts import PiperSpeaker

            self._piper = PiperSpeaker()
        return self._piper

    def speak(
        self, text: str, audio_tokens: list[int], voice: VoiceSpec | None = None
    ) -> Iterator[AudioChunk]:
        mode, why = speech_mode(self.token2wav_dir)
        if mode == "token2wav" and audio_tokens:
            self.last_info = {"speech": "token2wav", "speech_detail": why}
            yield from self._t2w().speak(text, audio_tokens, voice)
            return
        if mode == "token2wav":
            why = "the reply has no audio tokens"
        self.last_info = {"speech": "embedded-tts-fallback", "speech_detail": why}
        yield from self._tts().speak(text, audio_tokens, voice)
