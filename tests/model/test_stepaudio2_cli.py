"""`stepvox model make-tiny` and `stepvox respond --policy step-audio-2` as real subprocesses."""

import json
import os
import subprocess
import sys

import pytest
import soundfile as sf


def run(args, home, timeout=300):
    env = {**os.environ, "STEPVOX_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    d = tmp_path_factory.mktemp("ckpt") / "tiny"
    p = run(["model", "make-tiny", str(d), "--json"], home)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["model_type"] == "step_audio_2" and doc["vocab_size"] == 158720
    assert "model.safetensors" in doc["files"] and "tokenizer.json" in doc["files"]
    assert doc["token2wav"] and (d / "token2wav" / "flow.yaml").is_file()
    assert "Writing model shards" not in p.stderr  # quiet in JSON mode
    return home, d


def test_spoken_turn_end_to_end(tiny, speak, tmp_path):
    home, d = tiny
    out = tmp_path / "reply.wav"
    p = run(["respond", str(speak("What time is it in Tokyo?")), "-o", str(out), "--policy", "step-audio-2",
             "--model", str(d), "--json"], home)  # fmt: skip
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["policy"] == "step-audio-2"
    # make-tiny wrote token2wav/: token2wav speaks the reply's audio tokens, Piper its text if it has none
    assert doc["info"]["speech"] == (
        "token2wav" if doc["info"]["audio_tokens"] else "embedded-tts-fallback"
    )
    assert doc["info"]["audio_patches"] > 0 and doc["info"]["generated_tokens"] <= 48
    assert sf.info(str(out)).frames > 0


def test_usage_errors(tiny, tmp_path):
    home, d = tiny
    p = run(["model", "make-tiny", str(d)], home)
    assert p.returncode == 2 and "not empty" in p.stderr and "Traceback" not in p.stderr
    p = run(["serve-model", "--model", str(tmp_path / "missing")], home)
    assert p.returncode == 2 and "model directory not found" in p.stderr


def test_token2wav_speaks_audio_tokens_of_a_tiny_checkpoint(tiny):
    from model.stepaudio2.speech import StepAudio2Speaker

    _, d = tiny
    sp = StepAudio2Speaker(d / "token2wav")
    seg = sp.segment(None)
    chunks = [*seg.text("ignored"), *seg.tokens(list(range(100, 130))), *seg.end()]
    assert chunks and all(c.sample_rate == 24000 for c in chunks)
    assert seg.info["speech"] == "token2wav"
    assert sum(c.samples.size for c in chunks) / 24000 > 0.8  # 30 tokens at 25 Hz ~ 1.2 s
    seg = sp.segment(None)
    assert [*seg.text("Just text."), *seg.end()]  # no codes: Piper reads the text
    assert seg.info == {
        "speech": "embedded-tts-fallback",
        "speech_detail": "the reply has no audio tokens",
    }


def test_a_text_replying_step_audio_2_is_spoken_sentence_by_sentence(tiny):
    from model.stepaudio2.speech import StepAudio2Speaker

    _, d = tiny
    seg = StepAudio2Speaker(d / "token2wav", speaks=False).segment(None)
    first = list(seg.text("Hello there. How are"))  # the first sentence is spoken at once
    assert first and first[0].text == "Hello there." and first[0].sample_rate == 22050
    assert [c.text for c in [*seg.text(" you?"), *seg.end()]] == ["How are you?"]
    assert seg.info["speech"] == "embedded-tts-fallback"
