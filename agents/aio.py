"""Async forms of the sync turn API: a sync event iterator run on a worker thread, its items
handed to the event loop as they come.

The graph's nodes and its SQLite checkpointer are synchronous, so an async turn is the
sync turn on a thread (the event loop never blocks on a generation). Leaving the async
iteration early cancels the turn (its `CancelToken`) and waits for the thread to let go
of the conversation, so the next turn finds it free.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from model.events import TurnDone, TurnResult
from model.policy import CancelToken

_END = object()


async def aiterate(make: Callable[[], Iterator[Any]], cancel: CancelToken | None = None
                   ) -> AsyncIterator[Any]:
    """Iterate `make()` on a worker thread; yield its items on the running loop."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[Any, BaseException | None]] = asyncio.Queue()
    stop = threading.Event()

    def put(item: Any, err: BaseException | None = None) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (item, err))
        except RuntimeError:  # the loop is gone: nobody is listening any more
            stop.set()

    def work() -> None:
        it = make()
        try:
            for item in it:
                put(item)
                if stop.is_set():
                    break
        except BaseException as e:  # noqa: BLE001 - handed to the awaiting side
            put(_END, e)
            return
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()
        put(_END)

    th = threading.Thread(target=work, name="stepvox-async-turn", daemon=True)
    th.start()
    try:
        while True:
            item, err = await queue.get()
            if item is _END:
                if err is not None:
                    raise err
                return
            yield item
    finally:
        if th.is_alive():
            stop.set()
            if cancel is not None:
                cancel.cancel()
            await asyncio.to_thread(th.join)


async def _result(events: AsyncIterator[Any]) -> TurnResult:
    result = None
    async for ev in events:
        if isinstance(ev, TurnDone):
            result = ev.result
    assert result is not None
    return result


class AsyncTurns:
    """`astream_turn`/`arespond`/`astream_resume`/`aresume` over a class's sync
    `stream_turn`/`stream_resume` (the `Assistant`)."""

    def astream_turn(self, audio: Any = None, sample_rate: int = 16000, *, thread_id: str,
                     text: str | None = None, voice_id: str | None = None,
                     cancel: CancelToken | None = None, out_path: Any = None) -> AsyncIterator[Any]:
        """`stream_turn` as an async iterator (leaving it early cancels the turn)."""
        cancel = cancel or CancelToken()
        return aiterate(lambda: self.stream_turn(  # type: ignore[attr-defined]
            audio, sample_rate, thread_id=thread_id, text=text, voice_id=voice_id, cancel=cancel,
            out_path=out_path), cancel)

    async def arespond(self, audio: Any = None, sample_rate: int = 16000, *, thread_id: str,
                       text: str | None = None, voice_id: str | None = None,
                       cancel: CancelToken | None = None, out_path: Any = None) -> TurnResult:
        return await _result(self.astream_turn(audio, sample_rate, thread_id=thread_id, text=text,
                                               voice_id=voice_id, cancel=cancel, out_path=out_path))

    def astream_resume(self, thread_id: str, decision: Any, *, out_path: Any = None,
                       cancel: CancelToken | None = None) -> AsyncIterator[Any]:
        """`stream_resume` as an async iterator."""
        cancel = cancel or CancelToken()
        return aiterate(lambda: self.stream_resume(  # type: ignore[attr-defined]
            thread_id, decision, out_path=out_path, cancel=cancel), cancel)

    async def aresume(self, thread_id: str, decision: Any, *, out_path: Any = None) -> TurnResult:
        return await _result(self.astream_resume(thread_id, decision, out_path=out_path))
