"""A spoken question through the fake microphone of a real (headless) Chromium.

The page captures the mic with an AudioWorklet, streams it over the WebSocket, the server
endpoints it with silero-vad and runs the assistant; the page shows the transcript and the
tool call and plays the streamed reply through its playback worklet. A screenshot is kept in
test-artifacts/.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from assistant.live.endpointer import EndpointConfig
from assistant.server.app import create_app
from assistant.server.run import ServerThread
from tests.browser.conftest import chromium_args
from tests.live.audio_helpers import silence, speech

QUESTION = "What time is it in Tokyo?"
ROOT = Path(__file__).resolve().parents[2]


def voice_clip(tmp: Path) -> Path:
    """A LibriSpeech reader from the shared dev set, else a Piper sentence."""
    for base in (ROOT.parent, ROOT.parent.parent):
        clips = sorted((base / "shared" / "data" / "voices-dev").glob("*.flac"))
        if clips:
            return clips[0]
    p = tmp / "reader.wav"
    sf.write(
        str(p), speech("A calm reader, speaking slowly and clearly for the voice library."), 16000
    )
    return p


@pytest.fixture(scope="module")
def question_wav(tmp_path_factory):
    # 1 s of room, the question, then a long quiet tail (the fake device would otherwise loop)
    x = np.concatenate([silence(1.0), speech(QUESTION), silence(30.0)])
    p = tmp_path_factory.mktemp("mic") / "question.wav"
    sf.write(str(p), x, 16000, subtype="PCM_16")
    return p


def test_spoken_question_gets_a_spoken_answer_in_the_browser(
    chromium_path, artifacts_dir, question_wav, real_assistant, tmp_path
):
    from playwright.sync_api import sync_playwright

    from voices import VoiceLibrary

    clip = voice_clip(tmp_path)
    with VoiceLibrary(real_assistant.home / "voices") as lib:
        existing = lib.find_by_name("Reader for the browser")
        voice = existing or lib.add(clip, name="Reader for the browser")

    app = create_app(
        real_assistant, token="browser-test-token", endpoint=EndpointConfig(silence_ms=600)
    )
    with ServerThread(app) as srv, sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium_path, headless=True, args=chromium_args(question_wav)
        )
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 760})
            console: list[str] = []
            page.on("console", lambda m: console.append(m.text))
            page.goto(f"{srv.url}/?token=browser-test-token")
            # the voice picker lists the library; the chosen voice is used for the reply
            page.wait_for_selector(
                f"#voice option[value='{voice.id}']", state="attached", timeout=30_000
            )
            page.select_option("#voice", voice.id)
            page.click("#start")
            page.wait_for_function(
                "() => window.stepvox.turns.length >= 1 && window.stepvox.playedSamples > 16000 * 0.8",
                timeout=120_000,
            )
            # corpus upload from the page
            doc = tmp_path / "opening-hours.txt"
            doc.write_text("The community library opens at nine and closes at six on weekdays.")
            page.set_input_files("#corpus-files", str(doc))
            page.click("#corpus-upload")
            page.wait_for_function(
                "() => /added|unchanged|updated/.test(document.querySelector('#corpus-result').textContent)",
                timeout=60_000,
            )
            upload = page.inner_text("#corpus-result")
            page.wait_for_timeout(300)
            page.screenshot(path=str(artifacts_dir / "browser-chat.png"), full_page=True)
            S = page.evaluate("() => window.stepvox")
            user = page.inner_text("#transcript .user")
            tools = page.locator("#transcript .tool").all_inner_texts()
        finally:
            browser.close()
    assert not S["errors"], (S["errors"], console)
    assert S["transcripts"], S["events"]
    assert S["toolCalls"], S["events"]
    assert any(t for t in tools), tools
    # the reply was streamed and played: samples went through the playback worklet, not silence
    assert S["audioBytes"] > 2 * 16000 * 0.5 and S["peak"] > 0.05
    assert S["playedSamples"] >= 16000 * 0.8
    result = S["turns"][0]
    assert result["tool_calls"], result
    assert "tokyo" in user.lower(), user
    assert result["tool_calls"][0]["name"] in tools[0]
    assert "tokyo" in result["reply_text"].lower(), result
    assert result["voice"] == voice.id, result
    assert "opening-hours.txt" in upload, upload
