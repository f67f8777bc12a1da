"""The terminal transcript renders every kind of turn event (rich, to a captured console)."""

import io

from rich.console import Console

from assistant.live.transcript import TranscriptView
from model.events import (
    BargeIn,
    Error,
    PushToTalk,
    SpeechStarted,
    TextDelta,
    ToolCall,
    ToolResult,
    Transcript,
    TurnCancelled,
    TurnDone,
    TurnResult,
    VoiceChanged,
)


def test_transcript_shows_speech_tools_voice_changes_and_interruptions():
    buf = io.StringIO()
    view = TranscriptView(Console(file=buf, width=120, color_system=None))
    call = ToolCall(id="c1", name="audio_search", arguments={"query": "calm older man"})
    events = [
        SpeechStarted(sample=100),
        Transcript(text="Speak like a calm older man."),
        call,
        ToolResult(id="c1", name="audio_search", content='[{"id": "v7", "name": "Arthur"}]'),
        VoiceChanged(voice_id="v7", name="Arthur"),
        TextDelta(text="Of course. "),
        TextDelta(text="How is this?"),
        BargeIn(detect_ms=96.0, was_playing=True),
        TurnCancelled(turn=0),
        TurnDone(
            result=TurnResult(
                transcript="x",
                reply_text="y",
                policy="embedded",
                thread="t",
                timings_ms={"asr": 812.0},
            )
        ),
    ]
    for ev in events:
        view.handle(ev)
    assert view.lines == [
        "… listening",
        "you: Speak like a calm older man.",
        'tool call: audio_search {"query": "calm older man"}',
        'tool result: audio_search: [{"id": "v7", "name": "Arthur"}]',
        "voice changed: Arthur",
        "assistant: Of course. How is this?",
        "interrupted (detected 96 ms after onset)",
        "reply cancelled",
        "timings: asr 812",
    ]
    out = buf.getvalue()
    assert (
        "voice → Arthur" in out
        and "tool → audio_search" in out
        and "assistant: Of course. How is this?" in out
    )


def test_transcript_shows_push_to_talk_and_errors():
    view = TranscriptView(Console(file=io.StringIO(), width=120, color_system=None))
    for ev in (
        PushToTalk(pressed=True),
        PushToTalk(pressed=False, seconds=1.2),
        Error(message="RuntimeError: boom", turn=0),
    ):
        view.handle(ev)
    assert view.lines == ["recording", "error: RuntimeError: boom"]
