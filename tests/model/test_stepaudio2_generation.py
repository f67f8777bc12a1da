"""Generation on a tiny checkpoint: KV-cache decoding equals transformers generate(), batching,
stop tokens, token budget, cancellation, sampling."""

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

import model.stepaudio2  # noqa: F401  (registers step_audio_2)
from model.messages import Message
from model.policy import CancelToken
from model.stepaudio2.audio import batch_mels
from model.stepaudio2.generation import (
    GenerationRequest,
    SamplingParams,
    StepAudio2Generator,
    sample_next,
)
from model.stepaudio2.prompt import PromptBuilder
from model.stepaudio2.tiny import shared_tiny_checkpoint


@pytest.fixture(scope="module")
def setup():
    d = shared_tiny_checkpoint()
    m = AutoModelForCausalLM.from_pretrained(d).eval()
    tok = AutoTokenizer.from_pretrained(d)
    return m, tok, StepAudio2Generator(m, pad_token_id=tok.pad_token_id)


def _audio_request(tok, seconds=1.5, text="hi"):
    t = np.arange(int(16000 * seconds)) / 16000
    x = (0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32)
    builder = PromptBuilder(tok, load_audio=lambda _p: x)
    from model.messages import AudioPart, TextPart

    msg = Message(
        role="user", parts=[TextPart(text=text), AudioPart(path="mem.wav", sample_rate=16000)]
    )
    p = builder.build([Message.system_text("Be brief."), msg], speak=True)
    return GenerationRequest(input_ids=p.input_ids, audio=p.audio)


GREEDY = SamplingParams(max_new_tokens=12, temperature=0, repetition_penalty=1.0)


def test_greedy_matches_transformers_generate(setup):
    m, tok, g = setup
    req = _audio_request(tok)
    ours = g.generate([req], GREEDY)[0]
    wavs, wav_lens = batch_mels(req.audio)
    ids = torch.tensor([req.input_ids])
    ref = m.generate(
        input_ids=ids, attention_mask=torch.ones_like(ids), wavs=wavs, wav_lens=wav_lens,
        max_new_tokens=12, do_sample=False, eos_token_id=None, pad_token_id=tok.pad_token_id,
    )  # fmt: skip
    assert ours.tokens == ref[0, ids.shape[1] :].tolist()
    assert ours.finish_reason == "length" and len(ours.tokens) == 12


def test_batched_rows_equal_single_rows(setup):
    _, tok, g = setup
    a, b = _audio_request(tok, 1.5, "hi"), _audio_request(tok, 2.7, "what time is it in Tokyo?")
    both = g.generate([a, b], GREEDY)
    assert both[0].tokens == g.generate([a], GREEDY)[0].tokens
    assert both[1].tokens == g.generate([b], GREEDY)[0].tokens


def test_streaming_callback_stop_token_and_cancel(setup):
    _, tok, g = setup
    req = _audio_request(tok)
    seen = []
    steps = list(g.stream([req], GREEDY, on_token=lambda row, t: seen.append((row, t))))
    full = [t for _, t in seen]
    assert len(steps) == 12 and [s.tokens[0] for s in steps] == full
    stop = SamplingParams(
        max_new_tokens=12, temperature=0, repetition_penalty=1.0, stop_token_ids=(full[2],)
    )
    r = g.generate([req], stop)[0]
    assert r.finish_reason == "stop" and r.tokens == full[: full.index(full[2]) + 1]
    cancel = CancelToken()
    got = []
    results = []
    for step in g.stream([req], GREEDY, cancel=cancel, results=results):
        got.append(step.tokens[0])
        if len(got) == 3:
            cancel.cancel()
    assert got == full[:3] and results[0].finish_reason == "cancelled"


def test_sampling_is_seeded_and_respects_top_k():
    logits = torch.randn(2, 50)
    seen = torch.zeros(2, 50, dtype=torch.bool)
    p = SamplingParams(temperature=1.0, top_k=3, top_p=1.0, repetition_penalty=1.0)
    top3 = set(torch.topk(logits, 3).indices[0].tolist())
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    a = [sample_next(logits, p, seen, g1)[0].item() for _ in range(30)]
    b = [sample_next(logits, p, seen, g2)[0].item() for _ in range(30)]
    assert a == b and set(a) <= top3
    # repetition penalty pushes a seen positive logit below an unseen one
    lg = torch.tensor([[2.0, 1.9]])
    seen = torch.tensor([[True, False]])
    assert (
        sample_next(lg, SamplingParams(temperature=0, repetition_penalty=1.2), seen, None).item()
        == 1
    )
