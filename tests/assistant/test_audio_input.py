import numpy as np
import pytest
import soundfile as sf

from assistant.audio import AudioInputError, load_audio


@pytest.fixture(scope="module")
def tone():
    t = np.arange(int(44100 * 1.0)) / 44100
    left = 0.3 * np.sin(2 * np.pi * 220 * t)
    return np.stack([left, 0.5 * left], axis=1).astype(np.float32)


@pytest.mark.parametrize("fmt,ext", [("WAV", "wav"), ("FLAC", "flac"), ("OGG", "ogg"), ("MP3", "mp3")])
def test_formats_rates_and_channels_decode_to_16k_mono(tmp_path, tone, fmt, ext):
    p = tmp_path / f"tone.{ext}"
    sf.write(p, tone, 44100, format=fmt)
    samples, rate = load_audio(p)
    assert rate == 16000 and samples.ndim == 1
    assert abs(len(samples) / 16000 - 1.0) < 0.1
    assert 0.1 < np.abs(samples).max() < 0.5


def _wav_bytes(tmp_path):
    p = tmp_path / "ok.wav"
    sf.write(p, np.zeros(1600, np.float32) + 0.1, 16000)
    return p.read_bytes()


@pytest.mark.parametrize(
    "case,message",
    [
        ("not_audio", "cannot decode audio"),
        ("empty", "empty file"),
        ("zero_samples", "zero audio samples"),
        ("truncated", "cannot decode audio"),
        ("too_long", "longer than the limit"),
        ("missing", "file not found"),
    ],
)
def test_bad_input_is_one_clear_error_naming_the_file(tmp_path, case, message):
    p = tmp_path / f"{case}.wav"
    if case == "not_audio":
        p.write_text("this is not audio at all\n" * 10)
    elif case == "empty":
        p.write_bytes(b"")
    elif case == "zero_samples":
        sf.write(p, np.zeros(0, np.float32), 16000)
    elif case == "truncated":
        p.write_bytes(_wav_bytes(tmp_path)[:30])
    elif case == "too_long":
        sf.write(p, np.zeros(16000 * 3, np.float32), 16000)
    with pytest.raises(AudioInputError) as e:
        load_audio(p, max_seconds=2.0)
    assert str(p) in str(e.value) and message in str(e.value)
    assert "\n" not in str(e.value)
