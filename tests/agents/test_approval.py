"""A person in the loop, on the real graph and checkpointer: approval of tool calls (pause,
resume after a restart, deny, a spoken yes), handoff to a human and escalation, async turns."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.messages import AIMessage, ToolMessage

from agents import Assistant
from agents.approval import DecisionError
from agents.escalation import ESCALATE_SAY
from agents.tools.base import standard_tool
from model.embedded.policy import EmbeddedPolicy
from model.events import AudioChunk, TurnDone, Waiting

SENT: list[str] = []


def send_email(to: str) -> str:
    """Send an email to a contact."""
    SENT.append(to)
    return f'{{"sent_to": "{to}"}}'


def email_tool():
    return standard_tool(
        send_email, "send_email", "Send an email to a contact.",
        examples=["send an email to Ada", "email Bob", "write an email to my sister"],
        cues=["email", "mail"], parse=lambda text, prev: {"to": text.split()[-1].strip(".?!")},
        say=lambda result, args: f"I sent the email to {result['sent_to']}.",
        approval=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def policy():
    return EmbeddedPolicy()


def assistant(policy, home, **kw) -> Assistant:
    return Assistant(policy, home, extra_tools=[email_tool()], **kw)


def _events(it):
    events = list(it)
    assert isinstance(events[-1], TurnDone)
    return events, events[-1].result


def test_a_gated_call_pauses_and_resumes_after_a_restart(policy, tmp_path):
    SENT.clear()
    a = assistant(policy, tmp_path)
    events, result = _events(a.stream_turn(text="send an email to Ada", thread_id="t1"))
    assert result.waiting is not None and result.waiting.kind == "approval"
    assert [c.name for c in result.waiting.calls] == ["send_email"]
    assert result.waiting.calls[0].arguments == {"to": "Ada"}
    assert "need your approval" in result.reply_text and SENT == []
    kinds = [type(e).__name__ for e in events]
    assert "Waiting" in kinds and "AudioChunk" in kinds[kinds.index("Waiting"):]  # said aloud
    a.close()

    b = assistant(policy, tmp_path)  # a new process would see the same: it is in the checkpoint
    assert b.waiting("t1") == result.waiting
    done = b.resume("t1", "approve")
    assert SENT == ["Ada"] and done.waiting is None
    assert "sent the email to Ada" in done.reply_text
    assert done.tool_calls[0].name == "send_email" and done.tool_calls[0].arguments == {"to": "Ada"}
    hist = b.history("t1")
    calls = {c["id"] for m in hist if isinstance(m, AIMessage) for c in m.tool_calls}
    assert calls == {m.tool_call_id for m in hist if isinstance(m, ToolMessage)}
    assert b.waiting("t1") is None
    b.close()


def test_a_denied_call_never_runs_and_the_reply_says_so(policy, tmp_path):
    SENT.clear()
    a = assistant(policy, tmp_path)
    a.respond(text="send an email to Bob", thread_id="t")
    done = a.resume("t", {"approved": False, "reason": "not today"})
    a.close()
    assert SENT == []
    assert done.tool_calls[0].is_error and "not approved" in done.tool_calls[0].result
    assert "not today" in done.tool_calls[0].result and done.reply_text


def test_a_spoken_yes_approves_and_other_words_hear_what_it_waits_for(policy, tmp_path):
    SENT.clear()
    a = assistant(policy, tmp_path)
    a.respond(text="send an email to Cy", thread_id="t")
    again = a.respond(text="what time is it", thread_id="t")
    assert again.waiting is not None and "Say yes or no" in again.reply_text and SENT == []
    done = a.respond(text="yes, go ahead", thread_id="t")
    a.close()
    assert SENT == ["Cy"] and done.waiting is None and "Cy" in done.reply_text


def test_bad_decisions_are_refused_and_leave_the_pause_as_it_was(policy, tmp_path):
    a = assistant(policy, tmp_path)
    with pytest.raises(DecisionError, match="not waiting"):
        a.resume("nothing-here", True)
    a.respond(text="send an email to Dee", thread_id="t")
    before = a.waiting("t")
    for bad in ("maybe", 3, {"approved": "yes"}, {"call_x": True}):
        with pytest.raises(DecisionError):
            a.resume("t", bad)
    assert a.waiting("t") == before
    a.close()


def test_asking_for_a_person_hands_off_and_the_answer_is_spoken(policy, tmp_path):
    a = assistant(policy, tmp_path)
    r = a.respond(text="can I talk to a real person please", thread_id="h")
    assert r.waiting is not None and r.waiting.kind == "handoff"
    assert r.tool_calls == [] and "person" in r.reply_text
    with pytest.raises(DecisionError, match="empty"):
        a.resume("h", "   ")
    a.close()
    b = assistant(policy, tmp_path)  # the operator answers later, from another process
    events, done = _events(b.stream_resume("h", {"reply": "Your order ships on Monday."}))
    b.close()
    assert "Your order ships on Monday." in done.reply_text and done.waiting is None
    assert any(isinstance(e, AudioChunk) for e in events)


def test_unsure_answers_in_a_row_escalate_to_a_person(policy, tmp_path):
    a = assistant(policy, tmp_path, escalate_after=2)
    first = a.respond(text="please blorfify the quantum snizzle", thread_id="e")
    assert first.waiting is None and first.info.get("unsure")
    second = a.respond(text="no, blorfify the snizzle properly", thread_id="e")
    assert ESCALATE_SAY in second.reply_text
    assert second.waiting is not None and second.waiting.kind == "handoff"
    done = a.resume("e", "Hi, I'm Sam from support. What do you need blorfified?")
    assert "Sam from support" in done.reply_text
    third = a.respond(text="blorfify it again", thread_id="e")  # the count starts over
    a.close()
    assert third.waiting is None


def test_async_turns_and_leaving_early_frees_the_conversation(policy, tmp_path):
    a = assistant(policy, tmp_path)

    async def main():
        r = await a.arespond(text="what is 6 times 7", thread_id="as")
        async for _ev in a.astream_turn(text="what time is it", thread_id="as"):
            break  # leave at the first event: the turn is cancelled and lets go
        w = await a.arespond(text="send an email to Eve", thread_id="as2")
        d = await a.aresume("as2", False)
        r2 = await a.arespond(text="what is 2 plus 2", thread_id="as")
        return r, w, d, r2

    r, w, d, r2 = asyncio.run(asyncio.wait_for(main(), 300))
    a.close()
    assert "42" in r.reply_text and "4" in r2.reply_text
    assert isinstance(w.waiting, Waiting) and d.waiting is None
