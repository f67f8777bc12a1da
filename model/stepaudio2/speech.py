"""The speaker of the Step-Audio 2 policies: token2wav for audio tokens, Piper otherwise.

A spoken Step-Audio 2 reply carries speech tokens; `model.token2wav.Token2WavSpeaker`
turns them into 24 kHz audio in the active voice, chunk by chunk while the model
generates. When token2wav cannot run (the checkpoint has no `token2wav/` folder) every
segment is read by the embedded Piper speaker sentence by sentence; when a segment ends
without audio tokens (a text reply), Piper reads its text. Each segment's `info["speech"]`
says which one spoke ("token2wav" or "embedded-tts-fallback", the reason in
"speech_detail"); the graph puts it in the turn's `Done.info`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from model.embedded.tts import PiperSpeaker
from model.events import AudioChunk
from model.policy import SpeechSegment, VoiceSpec
from model.speech import speak_once
from model.token2wav import Token2WavSpeaker

TOKEN2WAV_RATE = 24000


def speech_mode(token2wav_dir: Path | None) -> tuple[str, str]:
    """("token2wav" | "embedded-tts-fallback", why)."""
    if token2wav_dir is None:
        return "embedded-tts-fallback", "no token2wav directory given"
    if not Path(token2wav_dir).is_dir():
        return "embedded-tts-fallback", f"{token2wav_dir} does not exist"
    return "token2wav", str(token2wav_dir)


class _FallbackSegment:
    """token2wav for the codes; if the segment ends with text but no codes, Piper reads it."""

    def __init__(self, codes: SpeechSegment, piper: PiperSpeaker, voice: VoiceSpec | None,
                 why: str) -> None:
        self._codes, self._piper, self._voice = codes, piper, voice
        self._text: list[str] = []
        self._has_codes = False
        self.info: dict[str, Any] = {"speech": "token2wav", "speech_detail": why}

    def text(self, delta: str) -> Iterator[AudioChunk]:
        self._text.append(delta)
        return iter(())

    def tokens(self, tokens: list[int]) -> Iterator[AudioChunk]:
        self._has_codes = self._has_codes or bool(tokens)
        return self._codes.tokens(tokens)

    def end(self) -> Iterator[AudioChunk]:
        yield from self._codes.end()
        text = "".join(self._text).strip()
        if not self._has_codes and text:
            self.info = {"speech": "embedded-tts-fallback",
                         "speech_detail": "the reply has no audio tokens"}
            yield from speak_once(self._piper, text, None, self._voice)


class StepAudio2Speaker:
    """Speaker protocol: token2wav when possible, the embedded Piper TTS as the fallback."""

    def __init__(
        self, token2wav_dir: str | Path | None, device: str = "cpu", *, speaks: bool = True
    ) -> None:
        self.token2wav_dir = Path(token2wav_dir) if token2wav_dir else None
        self.device = device
        self.mode, self.why = speech_mode(self.token2wav_dir)
        if not speaks:  # the policy replies in text: Piper reads it sentence by sentence
            self.mode, self.why = "embedded-tts-fallback", "the policy replies in text (speak=False)"
        self._token2wav: Token2WavSpeaker | None = None
        self._piper: PiperSpeaker | None = None

    @property
    def sample_rate(self) -> int:
        return TOKEN2WAV_RATE if self.mode == "token2wav" else self._tts().sample_rate

    def _t2w(self) -> Token2WavSpeaker:
        if self._token2wav is None:
            self._token2wav = Token2WavSpeaker(self.token2wav_dir, device=self.device)
        return self._token2wav

    def _tts(self) -> PiperSpeaker:
        if self._piper is None:
            self._piper = PiperSpeaker()
        return self._piper

    def segment(self, voice: VoiceSpec | None = None) -> SpeechSegment:
        if self.mode == "token2wav":
            return _FallbackSegment(self._t2w().segment(voice), self._tts(), voice, self.why)
        seg = self._tts().segment(voice)
        seg.info = {"speech": "embedded-tts-fallback", "speech_detail": self.why}
        return seg

    def speak(
        self, text: str, audio_tokens: list[int], voice: VoiceSpec | None = None
    ) -> Iterator[AudioChunk]:
        """A finished reply: its codes through token2wav, or its text through Piper."""
        return speak_once(self, text, audio_tokens, voice)
