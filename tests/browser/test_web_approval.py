"""A person in the loop on the web page, in a real (headless) Chromium.

The fake microphone asks "What is six times seven?"; `calculator` needs approval, so the turn
pauses and the page shows the approval card (the tool and its arguments, Approve / Deny);
clicking Approve runs the tool, and the answer is shown and played like any reply, and the card
goes away. Then a conversation handed to a person before the page connected: the page shows the
operator's card after `ready`, the operator's answer typed there is said by the assistant.
Screenshots of both cards are kept in test-artifacts/.
"""

from __future__ import annotations

import re
import uuid

import numpy as np
import pytest
import soundfile as sf

from assistant.live.endpointer import EndpointConfig
from assistant.server.app import create_app
from assistant.server.run import ServerThread
from tests.browser.conftest import chromium_args
from tests.live.audio_helpers import silence, speech

QUESTION = "What is six times seven?"
ANSWER = "Hi, this is Sam from support. Your order ships on Monday."


@pytest.fixture(scope="module")
def mic(tmp_path_factory):
    d = tmp_path_factory.mktemp("mic")
    q = np.concatenate([silence(1.0), speech(QUESTION), silence(30.0)])
    sf.write(str(d / "question.wav"), q, 16000, subtype="PCM_16")
    sf.write(str(d / "quiet.wav"), silence(30.0), 16000, subtype="PCM_16")
    return d


def launch(pw, chromium_path, wav):
    return pw.chromium.launch(executable_path=chromium_path, headless=True, args=chromium_args(wav))


def test_approve_on_the_card_runs_the_tool_and_an_operator_answers_on_the_page(
    chromium_path, artifacts_dir, mic, approval_assistant
):
    from playwright.sync_api import sync_playwright

    a = approval_assistant
    handed = f"web-handoff-{uuid.uuid4().hex[:6]}"  # paused before any page connects
    assert a.respond(text="can I talk to a real person", thread_id=handed).waiting.kind == "handoff"
    app = create_app(a, endpoint=EndpointConfig(silence_ms=600))
    with ServerThread(app) as srv, sync_playwright() as pw:
        browser = launch(pw, chromium_path, mic / "question.wav")
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 800})
            console: list[str] = []
            page.on("console", lambda m: console.append(m.text))
            page.goto(srv.url)
            page.click("#start")
            approve = page.get_by_role("button", name="Approve calculator")
            approve.wait_for(timeout=120_000)
            card = page.inner_text("#person .card")
            live = page.get_attribute("#person", "aria-live")
            page.screenshot(path=str(artifacts_dir / "browser-approval-card.png"), full_page=True)
            played = page.evaluate("() => window.stepvox.playedSamples")
            approve.click()
            page.wait_for_function(
                "() => { const S = window.stepvox; const t = S.turns[S.turns.length - 1];"
                " return t && !t.waiting && /42/.test(t.reply_text); }",
                timeout=60_000,
            )
            page.wait_for_function(
                f"() => window.stepvox.playedSamples > {played} + 16000 * 0.5", timeout=30_000
            )
            S = page.evaluate("() => window.stepvox")
            gone = page.locator("#person .card").count()
            text = page.inner_text("#transcript")
        finally:
            browser.close()

        browser = launch(pw, chromium_path, mic / "quiet.wav")
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 800})
            page.goto(srv.url)
            page.evaluate(f"() => sessionStorage.setItem('stepvox-thread', '{handed}')")
            page.click("#start")
            page.get_by_label("Operator's answer").wait_for(timeout=60_000)
            page.screenshot(path=str(artifacts_dir / "browser-handoff-card.png"), full_page=True)
            page.get_by_label("Operator's answer").fill(ANSWER)
            page.get_by_role("button", name="Send").click()
            page.wait_for_function(
                "() => window.stepvox.turns.length >= 1 && window.stepvox.playedSamples > 16000",
                timeout=60_000,
            )
            H = page.evaluate("() => window.stepvox")
            operator_gone = page.locator("#person .card").count()
            said = page.inner_text("#transcript")
        finally:
            browser.close()

    assert not S["errors"], (S["errors"], console)
    assert "Approval needed" in card and "calculator" in card and "6 * 7" in card, card
    assert live == "assertive"
    assert S["decisions"] == [{"type": "approve", "reason": None}]
    assert re.search(r"(six|6) times (seven|7)", S["transcripts"][0].lower()), S["transcripts"]
    assert S["turns"][0]["waiting"]["kind"] == "approval"
    result = next(r for r in S["toolResults"] if r["name"] == "calculator")
    assert "42" in result["content"] and not result["is_error"], result
    assert gone == 0 and S["waiting"] is None
    assert "42" in text and "approved calculator" in text, text
    assert S["peak"] > 0.05

    assert not H["errors"], H["errors"]
    assert H["events"][:3] == ["status", "ready", "waiting"], H["events"]
    assert H["decisions"] == [{"type": "reply", "text": ANSWER}]
    assert ANSWER in H["turns"][-1]["reply_text"] and not H["turns"][-1]["waiting"], H["turns"]
    assert operator_gone == 0 and ANSWER in said, said
    assert a.waiting(handed) is None
