"""The terminal voice loop: an input stream, an output stream, a `LiveSession` between them.

The input stream's callback only copies blocks into a queue (it runs on PortAudio's
thread, or the file stream's); `run()` drains the queue on the caller's thread, resamples
to 16 kHz and feeds the session. The output stream's callback is the `Player`'s.

Streams come from factories so the same loop runs on sounddevice (`sounddevice_factories`)
or on files (`FileInputStream` / `FileOutputStream`) in tests and benchmarks.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from assistant.live.endpointer import SAMPLE_RATE, EndpointConfig
from assistant.live.playback import Player
from assistant.live.session import LiveSession
from assistant.live.stream import AudioStream, open_input_stream, open_output_stream
from core.audio import StreamResampler

InputFactory = Callable[[Callable[..., None]], AudioStream]
OutputFactory = Callable[[Callable[..., None]], AudioStream]


def sounddevice_factories(
    input_device: str | int | None = None,
    output_device: str | int | None = None,
    *,
    input_blocksize: int = 512,
    output_blocksize: int = 512,
    output_samplerate: int | None = None,
) -> tuple[InputFactory, OutputFactory]:
    """Factories for real sounddevice streams (16 kHz mic, the output device's own rate)."""

    def make_in(cb):
        return open_input_stream(input_device, SAMPLE_RATE, input_blocksize, cb)

    def make_out(cb):
        return open_output_stream(output_device, output_samplerate, output_blocksize, cb)

    return make_in, make_out


class VoiceLoop:
    def __init__(
        self,
        assistant: Any,
        *,
        make_input: InputFactory,
        make_output: OutputFactory,
        thread_id: str,
        voice_id: str | None = None,
        endpoint: EndpointConfig | None = None,
        barge_in: bool = True,
        push_to_talk: bool = False,
        on_event: Callable[[Any], None] | None = None,
        vad_model: Any = None,
    ) -> None:
        self._frames: queue.Queue[np.ndarray] = queue.Queue()
        self.output = make_output(self._out_callback)
        self.input = make_input(self._in_callback)
        self.player = Player(int(self.output.samplerate))
        self.in_rate = int(self.input.samplerate)
        self._resampler = (
            StreamResampler(self.in_rate, SAMPLE_RATE) if self.in_rate != SAMPLE_RATE else None
        )
        self.session = LiveSession(
            assistant,
            self.player,
            thread_id=thread_id,
            voice_id=voice_id,
            endpoint=endpoint,
            barge_in=barge_in,
            push_to_talk=push_to_talk,
            on_event=on_event,
            vad_model=vad_model,
        )
        self._stop = threading.Event()
        self.overflows = 0

    # callbacks run on the streams' threads: keep them tiny
    def _in_callback(self, indata, frames, time_info, status) -> None:
        if status:
            self.overflows += 1
        self._frames.put(
            np.array(indata[:, 0] if indata.ndim == 2 else indata, dtype=np.float32, copy=True)
        )

    def _out_callback(self, outdata, frames, time_info, status) -> None:
        self.player.callback(outdata, frames, time_info, status)

    def stop(self) -> None:
        self._stop.set()

    def run(
        self, until: Callable[[LiveSession], bool] | None = None, max_seconds: float | None = None
    ) -> None:
        """Run until `stop()`, `until(session)` is true, `max_seconds` pass, or Ctrl-C.

        Ctrl-C propagates after a clean shutdown (streams closed, turn cancelled)."""
        t_end = time.perf_counter() + max_seconds if max_seconds else None
        self.output.start()
        self.input.start()
        try:
            while not self._stop.is_set():
                try:
                    block = self._frames.get(timeout=0.05)
                except queue.Empty:
                    block = None
                if block is not None:
                    if self._resampler is not None:
                        block = self._resampler.process(block)
                    self.session.feed(block)
                err = getattr(self.input, "error", None) or getattr(self.output, "error", None)
                if err is not None:
                    raise err
                if until is not None and until(self.session):
                    break
                if t_end is not None and time.perf_counter() >= t_end:
                    break
        finally:
            self.close()

    def close(self) -> None:
        self.session.close()
        for s in (self.input, self.output):
            try:
                s.stop()
                s.close()
            except Exception:
                pass
