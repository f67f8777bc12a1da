"""core.audio on real encoded files: libsndfile and FFmpeg decoding, mono, soxr resampling,
length limits while decoding, clear errors."""

from __future__ import annotations

import json
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from core import audio as ca

SR = 44100
SECONDS = 1.5
FREQ = 440.0


def _stereo(sr: int = SR, seconds: float = SECONDS) -> np.ndarray:
    """Left 0.4 and right 0.2 of the same 440 Hz sine: the mono mix is a 0.3 sine."""
    t = np.arange(int(sr * seconds)) / sr
    s = np.sin(2 * np.pi * FREQ * t)
    return np.stack([0.4 * s, 0.2 * s], axis=1).astype(np.float32)


def _sine(n: int, sr: int, amp: float = 0.3) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * FREQ * np.arange(n) / sr)).astype(np.float32)


def _peak_hz(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / sr)[int(np.argmax(spec))])


def _write_with_ffmpeg(path: Path, x: np.ndarray, sr: int, codec: str, fmt: str) -> Path:
    """Encode (frames, 2) float32 through PyAV (FFmpeg) in the codec's own sample format."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=sr)
        stream.layout = "stereo"
        if fmt == "s16":  # packed int16
            data = np.ascontiguousarray(np.round(x * 32767).astype(np.int16).reshape(1, -1))
        else:  # planar float
            data = np.ascontiguousarray(x.T)
        step = 1024
        for i in range(0, x.shape[0], step):
            part = data[:, i * 2 : (i + step) * 2] if fmt == "s16" else data[:, i : i + step]
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(part), format=fmt, layout="stereo")
            frame.sample_rate = sr
            frame.pts = i
            frame.time_base = Fraction(1, sr)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def flac(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("a") / "tone.flac"
    sf.write(p, _stereo(), SR, format="FLAC", subtype="PCM_24")
    return p


def test_flac_44k_stereo_decodes_mixes_and_resamples(flac):
    data, rate = ca.decode(flac)
    assert rate == SR and data.shape == (int(SR * SECONDS), 2) and data.dtype == np.float32
    assert np.allclose(data, _stereo(), atol=1e-6)  # 24-bit FLAC is lossless to ~1e-7
    mono = ca.to_mono(data)
    assert mono.shape == (int(SR * SECONDS),) and np.allclose(mono, _sine(mono.size, SR), atol=1e-6)

    y, r = ca.load(flac, 16000)
    assert r == 16000 and y.dtype == np.float32 and y.shape == (int(16000 * SECONDS),)
    # the resampled signal is the same 0.3-amplitude 440 Hz sine at 16 kHz (edges aside)
    ref = _sine(y.size, 16000)
    assert np.abs(y[200:-200] - ref[200:-200]).max() < 1e-3
    assert abs(_peak_hz(y, 16000) - FREQ) < 2

    native, r0 = ca.load(flac)  # rate=None keeps the file's rate
    assert r0 == SR and np.array_equal(native, mono)


def test_ogg_from_libsndfile_and_mp3_from_ffmpeg(tmp_path):
    x = _stereo()
    ogg = tmp_path / "tone.ogg"
    sf.write(ogg, x, SR, format="OGG", subtype="VORBIS")
    mp3 = _write_with_ffmpeg(tmp_path / "tone.mp3", x, SR, "libmp3lame", "fltp")
    for path, slack in ((ogg, 0), (mp3, 2400)):  # mp3 adds encoder delay/padding
        y, r = ca.load(path, 16000)
        assert r == 16000 and y.ndim == 1
        assert abs(y.size - 16000 * SECONDS) <= slack * 16000 / SR + 1
        mid = y[4000:-4000]
        assert abs(float(np.sqrt(np.mean(mid**2))) - 0.3 / np.sqrt(2)) < 0.02  # lossy codecs
        assert abs(_peak_hz(mid, 16000) - FREQ) < 3


@pytest.mark.parametrize("suffix,codec,fmt", [(".m4a", "aac", "fltp"), (".mka", "pcm_s16le", "s16")])
def test_formats_libsndfile_cannot_read_go_through_ffmpeg(tmp_path, suffix, codec, fmt):
    x = _stereo()
    path = _write_with_ffmpeg(tmp_path / f"tone{suffix}", x, SR, codec, fmt)
    with pytest.raises(Exception):  # noqa: B017 - what libsndfile raises varies by version
        sf.read(str(path))
    data, rate = ca.decode(path)
    assert rate == SR and data.shape[1] == 2 and data.dtype == np.float32
    if codec == "pcm_s16le":  # lossless: every sample back, int16 scaled to [-1, 1)
        assert data.shape[0] == x.shape[0]
        assert np.abs(data - x).max() < 1.0 / 32767
    else:
        assert abs(data.shape[0] - x.shape[0]) <= 2048  # AAC priming and last-frame padding
        mid = data[5000:-5000]
        assert np.allclose(np.sqrt(np.mean(mid**2, axis=0)), [0.4 / np.sqrt(2), 0.2 / np.sqrt(2)], atol=0.01)
    y, r = ca.load(path, 16000)
    assert r == 16000 and abs(_peak_hz(y[2000:-2000], 16000) - FREQ) < 3


def test_length_limit_is_enforced_while_decoding(tmp_path, flac):
    with pytest.raises(ca.AudioTooLongError) as e:
        ca.decode(flac, max_seconds=1.0)
    assert e.value.seconds == pytest.approx(SECONDS) and e.value.limit == 1.0
    assert str(flac) in str(e.value)
    m4a = _write_with_ffmpeg(tmp_path / "long.m4a", _stereo(seconds=3.0), SR, "aac", "fltp")
    with pytest.raises(ca.AudioTooLongError) as e:
        ca.decode(m4a, max_seconds=1.0)
    assert e.value.seconds > 1.0
    assert isinstance(e.value, ca.AudioDecodeError)  # callers may catch the one base type
    data, _ = ca.decode(flac, max_seconds=SECONDS + 0.1)
    assert data.shape[0] == int(SR * SECONDS)


def test_unreadable_and_missing_files_are_clear_errors(tmp_path, flac):
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n" * 20)
    truncated = tmp_path / "cut.flac"
    truncated.write_bytes(flac.read_bytes()[:40])
    for p in (text, truncated):
        with pytest.raises(ca.AudioDecodeError) as e:
            ca.decode(p)
        assert isinstance(e.value, ValueError)
        assert str(e.value).startswith(f"{p}: cannot decode audio (") and "\n" not in str(e.value)
        assert e.value.path == str(p) and e.value.reason
    with pytest.raises(FileNotFoundError, match="nope.wav: file not found"):
        ca.decode(tmp_path / "nope.wav")
    with pytest.raises(FileNotFoundError):
        ca.decode(tmp_path)  # a directory is not an audio file


def test_resample_is_soxr_hq_as_librosa_uses_it():
    librosa = pytest.importorskip("librosa")
    x = _sine(SR, SR) + 0.01 * np.random.default_rng(0).standard_normal(SR).astype(np.float32)
    ours = ca.resample(x, SR, 16000)
    ref = librosa.resample(x, orig_sr=SR, target_sr=16000, res_type="soxr_hq")
    assert ours.dtype == np.float32 and np.array_equal(ours, ref.astype(np.float32))
    up = ca.resample(ours, 16000, 48000)
    assert up.size == 48000 and abs(_peak_hz(up, 48000) - FREQ) < 2
    assert ca.resample(x, SR, SR) is not None and np.array_equal(ca.resample(x, SR, SR), x)
    assert ca.resample(np.zeros(0, np.float32), SR, 16000).size == 0
    with pytest.raises(ValueError, match="positive"):
        ca.resample(x, 0, 16000)


def test_to_mono_shapes():
    one = np.array([0.1, 0.2], np.float32)
    assert np.array_equal(ca.to_mono(one), one)
    assert ca.to_mono(np.ones((5, 1))).shape == (5,)
    assert np.allclose(ca.to_mono(np.array([[1.0, 0.0], [0.5, 0.5]])), [0.5, 0.5])
    with pytest.raises(ValueError):
        ca.to_mono(np.zeros((2, 2, 2)))


@pytest.mark.parametrize("sr_in,sr_out", [(48000, 16000), (44100, 16000), (16000, 24000)])
def test_stream_resampler_equals_one_shot(sr_in, sr_out):
    x = _sine(sr_in, sr_in) * np.linspace(0, 1, sr_in, dtype=np.float32)
    ref = ca.resample(x, sr_in, sr_out)
    r = ca.StreamResampler(sr_in, sr_out)
    rng = np.random.default_rng(2)
    out, i = [], 0
    while i < x.size:
        n = int(rng.integers(1, 1500))
        out.append(r.process(x[i : i + n]))
        i += n
    out.append(r.flush())
    y = np.concatenate(out)
    assert y.size == ref.size and np.abs(y - ref).max() < 1e-5
    again = r.process(x[:4800])  # after flush the stream starts afresh
    assert np.abs(again - ref[: again.size]).max() < 1e-5


# -- limits while decoding, bad samples, decoder noise ---------------------------------------


def _flac_without_length(src: Path, dst: Path) -> Path:
    """A copy of a FLAC whose STREAMINFO says "total samples unknown" (0), as streamed
    encoders write it: the length is only known by decoding."""
    b = bytearray(src.read_bytes())
    assert b[:4] == b"fLaC" and b[4] & 0x7F == 0  # STREAMINFO first, its body at byte 8
    b[8 + 13] &= 0xF0  # total samples: low 4 bits of byte 13 and bytes 14-17 (36 bits)
    b[8 + 14 : 8 + 18] = b"\0\0\0\0"
    dst.write_bytes(bytes(b))
    return dst


def test_flac_that_states_no_length_decodes_and_is_limited_as_it_decodes(tmp_path, flac):
    p = _flac_without_length(flac, tmp_path / "stream.flac")
    data, rate = ca.decode(p, max_seconds=10.0)  # not mistaken for a 2^63-frame file
    assert rate == SR and data.shape == (int(SR * SECONDS), 2)
    assert np.allclose(data, _stereo(), atol=1e-6)
    with pytest.raises(ca.AudioTooLongError) as e:
        ca.decode(p, max_seconds=1.0)
    assert not e.value.stated and e.value.seconds > 1.0  # how far decoding got: a lower bound
    assert str(e.value).startswith(f"{p}: cannot decode audio (longer than 1 s (decoding stopped at 1.")


_RSS_SCRIPT = r"""
import json, resource, sys
from core import audio as ca
def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
ca.decode(sys.argv[1])  # warm up: libraries loaded, one small decode
base = peak_mb()
out = {}
for path in sys.argv[2:]:
    try:
        ca.decode(path, max_seconds=5.0)
        out[path] = ["decoded", 0.0]
    except ca.AudioTooLongError as e:
        out[path] = [type(e).__name__, peak_mb() - base]
print(json.dumps(out))
"""


def test_long_files_are_refused_with_memory_bounded_by_the_limit(tmp_path, flac):
    """Ten minutes of 48 kHz stereo silence is a 400 KB FLAC that decodes to 230 MB of float32;
    with a 5 s limit decoding stops after 5 s, whether the header states the length or not."""
    import subprocess

    rate, minute = 48000, np.zeros((48000 * 60, 2), np.float32)
    long_flac = tmp_path / "long.flac"
    with sf.SoundFile(long_flac, "w", rate, 2, format="FLAC", compression_level=0) as f:
        for _ in range(10):
            f.write(minute)
    assert long_flac.stat().st_size < 2_000_000
    nolen = _flac_without_length(long_flac, tmp_path / "long-nolen.flac")
    mono = np.zeros(8000 * 60, np.float32)
    ogg, mp3 = tmp_path / "long.ogg", tmp_path / "long.mp3"
    sf.write(ogg, mono, 8000, format="OGG")
    sf.write(mp3, mono, 8000, format="MP3")
    files = [long_flac, nolen, ogg, mp3]
    p = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(flac), *map(str, files)],
        capture_output=True, text=True, timeout=120,
    )
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout)
    for path in files:
        kind, grew_mb = result[str(path)]
        assert kind == "AudioTooLongError", path
        assert grew_mb < 60, (path, grew_mb)  # a full decode of the FLACs is 230 MB or more


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_infinite_samples_are_refused_while_decoding(tmp_path, bad):
    x = _sine(SR * 2, SR)
    x[70_000] = bad  # in the second block libsndfile reads
    p = tmp_path / "float.wav"
    sf.write(p, x, SR, subtype="FLOAT")
    with pytest.raises(ca.AudioContentError) as e:
        ca.load(p, 16000)
    assert str(e.value) == f"{p}: contains NaN or infinite samples"
    assert isinstance(e.value, ca.AudioDecodeError)  # every caller's one except clause catches it


def test_too_short_and_silent_are_refused_when_asked(tmp_path):
    short, silent = tmp_path / "short.wav", tmp_path / "silent.wav"
    sf.write(short, _sine(800, 16000), 16000)
    sf.write(silent, np.zeros(16000, np.float32), 16000)
    assert ca.load(short)[0].size == 800 and ca.load(silent)[0].size == 16000  # by default fine
    with pytest.raises(ca.AudioContentError, match=r"short.wav: 0.05 s of audio, shorter than 0.2 s"):
        ca.load(short, min_seconds=0.2)
    with pytest.raises(ca.AudioContentError, match=r"silent.wav: is silent"):
        ca.load(silent, allow_silence=False)


def corrupt_mp3(path: Path) -> Path:
    """The first frames of a real MP3, then noise: libsndfile's mpg123 complains on fd 2."""
    good = path.with_suffix(".good.mp3")
    sf.write(good, _sine(16000 * 3, 16000), 16000, format="MP3")
    noise = np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes()
    path.write_bytes(good.read_bytes()[:400] + noise)
    good.unlink()
    return path


def test_damaged_mp3_is_one_error_and_no_decoder_noise(tmp_path, capfd):
    p = corrupt_mp3(tmp_path / "damaged.mp3")
    with pytest.raises(ca.AudioDecodeError) as e:
        ca.decode(p)
    assert "damaged" in e.value.reason and "does not exist" not in e.value.reason
    print("stderr works again", file=sys.stderr, flush=True)
    err = capfd.readouterr().err
    assert err == "stderr works again\n", err  # nothing from libmpg123 / FFmpeg
