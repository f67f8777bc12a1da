"""token2wav push streaming: open_stream/push/finish, and the per-voice primed state."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import torch

from model.token2wav import Token2Wav, Token2WavStream, default_prompt_path, write_tiny_token2wav

SR = 24000


@pytest.fixture(scope="module")
def t2w(tmp_path_factory):
    torch.set_num_threads(2)
    d = write_tiny_token2wav(tmp_path_factory.mktemp("ckpt") / "token2wav")
    return Token2Wav.from_pretrained(d)


def _tokens(n: int, seed: int = 0) -> list[int]:
    return [int(t) for t in np.random.default_rng(seed).integers(0, 6561, n)]


def _pieces(stream: Token2WavStream, tokens: list[int], sizes: list[int]):
    """Push `tokens` in pieces of the given sizes (cycled); returns the audio pieces and
    tokens_synthesized after each push."""
    out, progress, i, k = [], [], 0, 0
    while i < len(tokens):
        step = sizes[k % len(sizes)]
        got = stream.push(tokens[i : i + step])
        out += got
        i += step
        k += 1
        progress.append((stream.tokens_synthesized, len(got)))
    out += stream.finish()
    return out, progress


@pytest.mark.parametrize("sizes", [[1], [7, 2, 30], [100]])
def test_push_equals_stream(t2w, sizes):
    tokens = _tokens(83, seed=5)
    ref = np.concatenate(
        list(t2w.stream([tokens[i : i + 25] for i in range(0, 83, 25)], default_prompt_path()))
    )
    s = t2w.open_stream(default_prompt_path())
    assert isinstance(s, Token2WavStream) and s.tokens_synthesized == 0
    pieces, progress = _pieces(s, tokens, sizes)
    got = np.concatenate(pieces)
    assert got.shape == ref.shape == (83 * SR // 25,)
    assert np.array_equal(got, ref)
    # every chunk of 25 tokens is returned as soon as 25 + 3 tokens are in
    pushed, emitted = 0, 0
    for (done, n_new), step in zip(progress, sizes * 100, strict=False):
        pushed = min(pushed + step, 83)
        emitted += n_new
        assert done == 25 * emitted == 25 * max(0, (pushed - 3) // 25)
    assert s.tokens_synthesized == 83
    assert s.samples_returned == 83 * SR // 25


def test_push_validates_and_closes(t2w):
    s = t2w.open_stream(default_prompt_path())
    assert s.push([]) == []
    with pytest.raises(ValueError, match="6561 is outside 0..6560"):
        s.push([1, 2, 6561])
    assert s.push(_tokens(27)) == []  # the bad push added nothing: 27 < 25 + 3
    assert len(s.push([4])) == 1 and s.tokens_synthesized == 25
    rest = s.finish()
    assert sum(len(p) for p in rest) + (50 - 8) * 480 == 28 * SR // 25
    assert s.tokens_synthesized == 28
    assert s.finish() == []
    with pytest.raises(RuntimeError):
        s.push([1])
    empty = t2w.open_stream(default_prompt_path())
    assert empty.finish() == [] and empty.tokens_synthesized == 0


def test_voice_state_is_cached_and_shared(t2w, tmp_path):
    prompt = tmp_path / "voice.wav"
    shutil.copy(default_prompt_path(), prompt)
    setups, preps = t2w.voice_setups, t2w.frontend.preparations
    a = t2w.open_stream(prompt, "alice")
    assert t2w.voice_setups == setups + 1
    primed = [t.clone() for t in a.voice.flow.prompt_att] + [a.voice.flow.conformer_att.clone()]
    tokens = _tokens(60, seed=6)
    first, _ = _pieces(a, tokens, [60])

    # a second stream in the same voice: no prompt preparation, no priming
    b = t2w.open_stream(prompt, "alice")
    assert t2w.voice_setups == setups + 1
    assert t2w.frontend.preparations <= preps + 1
    assert b.voice is a.voice
    # the shared primed state is never modified by streaming
    after = [*b.voice.flow.prompt_att, b.voice.flow.conformer_att]
    assert all(torch.equal(x, y) for x, y in zip(primed, after, strict=True))
    second, _ = _pieces(b, tokens, [60])
    assert np.array_equal(np.concatenate(first), np.concatenate(second))

    # another voice id, or an edited prompt file, is primed again
    t2w.open_stream(prompt, "bob")
    assert t2w.voice_setups == setups + 2
    st = prompt.stat()
    os.utime(prompt, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    t2w.open_stream(prompt, "alice")
    assert t2w.voice_setups == setups + 3


def test_missing_prompt_is_a_value_error(t2w, tmp_path):
    with pytest.raises(ValueError, match="not found"):
        t2w.open_stream(tmp_path / "nope.wav")
