"""One live conversation, independent of where the audio comes from and goes to.

`LiveSession.feed()` takes 16 kHz mono float32 microphone samples (from a sounddevice
callback, a file-backed stream, or a browser's WebSocket) and:

- runs the silero-vad `Endpointer`; at the end of an utterance it starts a turn
  (`assistant.stream_turn`) on a worker thread;
- sends reply audio chunks to a `ReplySink` (the terminal `Player`, or the web socket)
  as soon as each is synthesized, so playback starts with the first chunk;
- barge-in: speech onset while a turn is running or its reply is still playing stops the
  sink at once and cancels the generation (`CancelToken`); the interrupting speech is
  already being recorded and becomes the next turn;
- push-to-talk: with `push_to_talk=True` the endpointer is bypassed; `press()` starts
  recording (and barges in), `release()` ends the utterance.
- a person in the loop: `resume(decision)` continues a conversation paused for an approval
  or an operator's answer (`assistant.stream_resume`) on the same worker, streamed and
  played like a turn.

Everything that happens is passed to `on_event` as one of the typed events of
`model.events`: the assistant's turn events as they stream (`Transcript`, `TextDelta`,
`ToolCall`, `ToolResult`, `VoiceChanged`, `AudioChunk`, `Timing`, `TurnDone`, ...) plus the
session's own (`SpeechStarted`, `SpeechEnded`, `SpeechAborted`, `PushToTalk`, `TurnStarted`,
`BargeIn`, `TurnCancelled`, `Error`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from assistant.live.endpointer import (
    SAMPLE_RATE,
    EndpointConfig,
    Endpointer,
    SpeechAbort,
    SpeechEnd,
    SpeechStart,
)
from model.events import (
    BargeIn,
    Error,
    PushToTalk,
    SpeechAborted,
    SpeechEnded,
    SpeechStarted,
    TurnCancelled,
    TurnResult,
    TurnStarted,
)
from model.policy import CancelToken


class ReplySink(Protocol):
    """Where reply audio goes. `Player` (terminal) and the web socket sink implement it."""

    def begin(self) -> None: ...
    def write(self, samples: np.ndarray, sample_rate: int) -> None: ...
    def end(self) -> None: ...
    def stop(self) -> None: ...

    @property
    def active(self) -> bool: ...

    @property
    def played_seconds(self) -> float:
        """How much of the current reply has been played (for what a barge-in keeps)."""
        ...


@dataclass
class TurnRecord:
    index: int
    audio_seconds: float
    speech_end_sample: int | None
    endpoint_time: float  # wall time the utterance was ended (endpointer or PTT release)
    start_time: float = 0.0  # wall time the turn worker started
    first_chunk_time: float | None = None  # first AudioChunk from the assistant
    done_time: float | None = None
    cancelled: bool = False
    result: TurnResult | None = None  # from the turn's TurnDone
    stage_ms: dict[str, float] = field(default_factory=dict)
    stage_before_audio_ms: dict[str, float] = field(default_factory=dict)
    tool_calls: list[str] = field(default_factory=list)
    error: str | None = None
    # the reply's audio chunks as sent to the sink: (text when known, seconds)
    chunks: list[tuple[str | None, float]] = field(default_factory=list)
    heard_seconds: float | None = None  # set by a barge-in during this reply
    stream: Any = None  # the turn's event generator while it runs


class LiveSession:
    def __init__(
        self,
        assistant: Any,
        sink: ReplySink,
        *,
        thread_id: str,
        voice_id: str | None = None,
        endpoint: EndpointConfig | None = None,
        barge_in: bool = True,
        push_to_talk: bool = False,
        on_event: Callable[[Any], None] | None = None,
        vad_model: Any = None,
        max_ptt_seconds: float | None = None,
    ) -> None:
        self.assistant = assistant
        self.sink = sink
        self.thread_id = thread_id
        self._pending_voice = voice_id  # sent with the next turn only; the graph keeps it after
        self.voice_id = voice_id
        self.endpointer = Endpointer(endpoint, model=vad_model)
        self.barge_in_enabled = barge_in
        self.push_to_talk = push_to_talk
        self.on_event = on_event or (lambda ev: None)
        self._lock = threading.RLock()
        self._turn_thread: threading.Thread | None = None
        self._cancel: CancelToken | None = None  # of the running turn
        self._turn_active = False
        self.turns: list[TurnRecord] = []
        self.barge_ins: list[dict[str, Any]] = []
        self.samples_in = 0
        self._ptt_pressed = False
        self._ptt_buf: list[np.ndarray] = []
        self._ptt_start = 0
        self._ptt_samples = 0
        self._ptt_overflow = False
        # push-to-talk audio is held until release: at most this much (None: unbounded)
        self.max_ptt_seconds = max_ptt_seconds
        self._ignore_utt = False
        self._resumed: TurnRecord | None = None  # the last resume (`resuming`)
        self.closed = False

    # ---------------------------------------------------------------- state
    @property
    def turn_running(self) -> bool:
        return self._turn_active

    @property
    def busy(self) -> bool:
        """A turn is generating or its reply is still playing (speech now = barge-in)."""
        return self._turn_active or self.sink.active

    def set_voice(self, voice_id: str | None) -> None:
        with self._lock:
            self._pending_voice = voice_id
            self.voice_id = voice_id

    def _emit(self, ev: Any) -> None:
        try:
            self.on_event(ev)
        except Exception:  # a UI problem must not kill the audio loop
            pass

    # ---------------------------------------------------------------- input
    def feed(self, samples: np.ndarray) -> None:
        """Microphone samples, 16 kHz mono float32. Call from one thread."""
        if self.closed:
            return
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self.samples_in += samples.size
        if self.push_to_talk:
            if self._ptt_pressed and not self._ptt_overflow:
                self._hold_ptt(samples)
            return
        for ev in self.endpointer.feed(samples):
            if isinstance(ev, SpeechStart):
                self._emit(SpeechStarted(sample=ev.start))
                self._ignore_utt = False
                if self.busy:
                    if self.barge_in_enabled:
                        self.barge_in(onset_sample=ev.start)
                    else:  # half-duplex: what the mic hears while we talk is not a question
                        self._ignore_utt = True
            elif isinstance(ev, SpeechEnd) and self._ignore_utt:
                self._ignore_utt = False
                self._emit(SpeechAborted(reason="spoke while busy (barge-in off)"))
            elif isinstance(ev, SpeechEnd):
                self._emit(
                    SpeechEnded(sample=ev.end, seconds=round(ev.audio.size / SAMPLE_RATE, 3))
                )
                self.start_turn(ev.audio, speech_end_sample=ev.end)
            elif isinstance(ev, SpeechAbort):
                self._emit(SpeechAborted(sample=ev.start, reason="too short"))

    def _hold_ptt(self, samples: np.ndarray) -> None:
        limit = self.max_ptt_seconds
        with self._lock:
            self._ptt_samples += samples.size
            over = limit is not None and self._ptt_samples > limit * SAMPLE_RATE
            if over:
                self._ptt_overflow = True
                self._ptt_buf = []  # dropped now, not at release
            else:
                self._ptt_buf.append(samples)
        if over:
            self._emit(
                Error(
                    message=f"push-to-talk recording longer than {limit:g} s "
                    "(STEPVOX_MAX_INPUT_SECONDS): this turn is refused; release and ask again"
                )
            )

    def press(self) -> None:
        """Push-to-talk pressed: barge in if busy, start recording."""
        with self._lock:
            if self._ptt_pressed:
                return
            self._ptt_pressed = True
            self._ptt_buf = []
            self._ptt_samples = 0
            self._ptt_overflow = False
            self._ptt_start = self.samples_in
        self._emit(PushToTalk(pressed=True))
        if self.busy:
            self.barge_in(onset_sample=self.samples_in)

    def release(self) -> None:
        """Push-to-talk released: the recording is the utterance."""
        with self._lock:
            if not self._ptt_pressed:
                return
            self._ptt_pressed = False
            audio = np.concatenate(self._ptt_buf) if self._ptt_buf else np.zeros(0, np.float32)
            self._ptt_buf = []
            overflow, self._ptt_overflow = self._ptt_overflow, False
            seconds = self._ptt_samples / SAMPLE_RATE
        self._emit(PushToTalk(pressed=False, seconds=seconds))
        if overflow:
            self._emit(SpeechAborted(reason=f"push-to-talk longer than {self.max_ptt_seconds:g} s"))
            return
        if audio.size < SAMPLE_RATE * 0.2:
            self._emit(SpeechAborted(reason="push-to-talk shorter than 0.2 s"))
            return
        self.start_turn(audio, speech_end_sample=self.samples_in)

    # ---------------------------------------------------------------- barge-in
    def barge_in(self, onset_sample: int | None = None) -> None:
        """Stop playback now and cancel the running generation."""
        was_playing = self.sink.active
        played = self.sink.played_seconds if was_playing else None
        self.sink.stop()
        t = time.perf_counter()  # playback is stopped from here on
        with self._lock:
            cancel = self._cancel
            running = self._turn_active
            playing = next((r for r in reversed(self.turns) if r.chunks), None)
        if cancel is not None and running:
            cancel.cancel()
        if playing is not None and played is not None:
            playing.heard_seconds = played
            if not running:  # the reply was already stored: keep only what was heard now
                threading.Thread(target=self._keep_heard, args=(playing,), daemon=True).start()
        rec = {
            "time": t,
            "onset_sample": onset_sample,
            "detected_sample": self.endpointer.pos if not self.push_to_talk else self.samples_in,
            "was_playing": was_playing,
            "turn_running": running,
        }
        if onset_sample is not None:
            rec["detect_ms"] = round(
                (rec["detected_sample"] - onset_sample) * 1000 / SAMPLE_RATE, 1
            )
        self.barge_ins.append(rec)
        self._emit(BargeIn(**{k: v for k, v in rec.items() if k != "time"}))

    def interrupt(self) -> None:
        """Manual barge-in (a key, a button)."""
        if self.busy:
            self.barge_in()

    # ---------------------------------------------------------------- turns
    def start_turn(self, audio: np.ndarray, speech_end_sample: int | None = None) -> TurnRecord:
        """A turn for an utterance (`assistant.stream_turn`), on the worker thread."""
        with self._lock:
            voice, self._pending_voice = self._pending_voice, None

        def stream(cancel: CancelToken) -> Any:
            return self.assistant.stream_turn(
                audio, SAMPLE_RATE, thread_id=self.thread_id, voice_id=voice, cancel=cancel
            )

        return self._start(stream, audio.size / SAMPLE_RATE, speech_end_sample)

    def resume(self, decision: Any) -> TurnRecord:
        """Continue the paused conversation with a person's decision (`assistant.stream_resume`:
        approve or deny the pending tool calls, or an operator's answer). It runs as a turn
        does: its events go to `on_event`, its reply to the sink, and barge-in cancels it. What
        still plays (the assistant asking for the decision) stops first; it is not a barge-in,
        so the conversation is not trimmed to what was heard."""
        self.sink.stop()

        def stream(cancel: CancelToken) -> Any:
            return self.assistant.stream_resume(self.thread_id, decision, cancel=cancel)

        rec = self._resumed = self._start(stream, 0.0, None)
        return rec

    @property
    def resuming(self) -> bool:
        """A decision's resumed turn has not finished yet."""
        rec = self._resumed
        return rec is not None and rec.done_time is None

    def _start(self, stream: Callable[[CancelToken], Any], seconds: float,
               speech_end_sample: int | None) -> TurnRecord:
        now = time.perf_counter()
        # a new utterance supersedes whatever is still running
        with self._lock:
            prev_cancel, prev_thread = self._cancel, self._turn_thread
        if prev_cancel is not None and self._turn_active:
            self.sink.stop()
            prev_cancel.cancel()
        rec = TurnRecord(
            index=len(self.turns),
            audio_seconds=seconds,
            speech_end_sample=speech_end_sample,
            endpoint_time=now,
        )
        cancel = CancelToken()
        with self._lock:
            self.turns.append(rec)
            self._cancel = cancel
            self._turn_active = True
            th = threading.Thread(
                target=self._run_turn,
                args=(rec, stream, cancel, prev_thread),
                daemon=True,
                name=f"turn-{rec.index}",
            )
            self._turn_thread = th
        self._emit(TurnStarted(turn=rec.index, seconds=round(rec.audio_seconds, 3)))
        th.start()
        return rec

    def _run_turn(
        self,
        rec: TurnRecord,
        make_stream: Callable[[CancelToken], Any],
        cancel: Any,
        prev: threading.Thread | None,
    ) -> None:
        # turns of one conversation run one after another (one checkpoint thread)
        if prev is not None:
            prev.join(timeout=30)
        rec.start_time = time.perf_counter()
        begun = False
        try:
            if cancel.cancelled:  # superseded before it started
                return
            stream = make_stream(cancel)
            rec.stream = stream  # closed in `finally`: it holds the conversation's turn lock
            for ev in stream:
                kind = getattr(ev, "type", None)
                if kind == "audio_chunk":
                    if cancel.cancelled:
                        continue
                    if rec.first_chunk_time is None:
                        rec.first_chunk_time = time.perf_counter()
                        rec.stage_before_audio_ms = dict(rec.stage_ms)
                    if not begun:
                        self.sink.begin()
                        begun = True
                    self.sink.write(ev.samples, ev.sample_rate)
                    rec.chunks.append((ev.text, ev.samples.size / ev.sample_rate))
                elif kind == "timing":
                    rec.stage_ms[ev.stage] = rec.stage_ms.get(ev.stage, 0.0) + float(ev.ms)
                elif kind == "tool_call":
                    rec.tool_calls.append(ev.name)
                elif kind == "voice_changed":
                    with self._lock:
                        self.voice_id = ev.voice_id
                elif kind == "turn_done":
                    rec.result = ev.result
                    rec.cancelled = bool(ev.result.info.get("cancelled")) or cancel.cancelled
                self._emit(ev)
        except Exception as e:  # the loop survives a failed turn
            rec.error = f"{type(e).__name__}: {e}"
            self._emit(Error(message=rec.error, turn=rec.index))
        finally:
            close = getattr(rec.stream, "close", None)
            if close is not None:
                close()  # a turn left by an exception or cancel lets go of the conversation now
            rec.stream = None
            rec.done_time = time.perf_counter()
            if rec.heard_seconds is not None:
                self._keep_heard(rec)
            if cancel.cancelled:
                rec.cancelled = True
                self._emit(TurnCancelled(turn=rec.index))
            elif begun:
                self.sink.end()
            with self._lock:
                if self._cancel is cancel:
                    self._turn_active = False

    def _keep_heard(self, rec: TurnRecord) -> None:
        """Trim the stored reply to what the user heard before barging in."""
        mark = getattr(self.assistant, "mark_heard", None)
        if mark is None or rec.heard_seconds is None:
            return
        try:
            mark(self.thread_id, rec.heard_seconds, [t for t, _ in rec.chunks],
                 [d for _, d in rec.chunks])
        except Exception as e:  # the conversation keeps the full reply; say why
            self._emit(Error(message=f"could not record what was heard: {e}", turn=rec.index))

    def wait_turn(self, timeout: float | None = None) -> bool:
        """Wait for the running turn's generation to finish (not its playback)."""
        th = self._turn_thread
        if th is not None:
            th.join(timeout)
            return not th.is_alive()
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Cancel whatever runs and wait for the worker (the graph checkpoints each turn)."""
        self.closed = True
        with self._lock:
            cancel, th = self._cancel, self._turn_thread
        if cancel is not None and self._turn_active:
            cancel.cancel()
        self.sink.stop()
        if th is not None and th.ident is not None:  # not started: Ctrl-C landed in start_turn
            th.join(timeout)

    def discard(self) -> None:
        """After `close()`: drop the VAD model and held audio now rather than whenever the
        session object is collected (a server drops each session when its socket closes)."""
        self.closed = True
        with self._lock:
            self._ptt_buf = []
        self.endpointer.model = None
