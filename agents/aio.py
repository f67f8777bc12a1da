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
