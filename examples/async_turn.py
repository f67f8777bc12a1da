"""Async turns: `await asst.arespond(...)` and `async for ev in asst.astream_turn(...)`.

The async forms run the same turn as `respond` / `stream_turn` on a worker thread and hand
its events to the event loop as they come, so the loop stays free while the policy
generates (here a ticker keeps running during the turns). Leaving an `astream_turn` loop
early cancels the turn. Two conversations run at once; turns of one conversation wait for
each other.

Run: python examples/async_turn.py [--out DIR]   (writes DIR/*.wav; offline)
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from agents import Assistant
from model.embedded.policy import EmbeddedPolicy
from model.events import AudioChunk, TextDelta, ToolCall, TurnDone


async def ticker(ticks: list[float]) -> None:
    while True:  # proof that the loop is not blocked while a turn runs
        ticks.append(time.perf_counter())
        await asyncio.sleep(0.05)


async def streamed(asst: Assistant, out: Path) -> None:
    async for ev in asst.astream_turn(text="What is 6 times 7?", thread_id="math",
                                      out_path=out / "math.wav"):
        if isinstance(ev, ToolCall):
            print(f"  [math] tool call {ev.name}({ev.arguments})")
        elif isinstance(ev, TextDelta):
            print(f"  [math] text {ev.text!r}")
        elif isinstance(ev, AudioChunk):
            print(f"  [math] audio chunk {len(ev.samples) / ev.sample_rate:.2f} s")
        elif isinstance(ev, TurnDone):
            print(f"streamed reply: {ev.result.reply_text} -> {ev.result.reply_audio}")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=tempfile.mkdtemp(prefix="stepvox-example-"))
    out = Path(ap.parse_args().out)
    asst = Assistant(EmbeddedPolicy(), out / "home")
    ticks: list[float] = []
    tick = asyncio.create_task(ticker(ticks))
    try:
        # two conversations at once: one streamed event by event, one awaited whole
        _, r = await asyncio.gather(
            streamed(asst, out),
            asst.arespond(text="What time is it in Tokyo?", thread_id="time",
                          out_path=out / "time.wav"),
        )
        print(f"awaited reply: {r.reply_text} -> {r.reply_audio}")
        print(f"tool calls: {[c.name for c in r.tool_calls]}")
        print(f"the event loop ticked {len(ticks)} times during the turns")
    finally:
        tick.cancel()
        asst.close()


if __name__ == "__main__":
    asyncio.run(main())
