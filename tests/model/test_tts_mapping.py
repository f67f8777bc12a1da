from model.embedded.tts import BASE_F0_HZ, BASE_RATE, voice_params
from model.policy import VoiceSpec


def test_library_voice_maps_onto_piper_rate_and_pitch():
    fast_high = VoiceSpec(voice_id="v", pitch_hz=4 * BASE_F0_HZ, speaking_rate=1.25 * BASE_RATE)
    length, shift = voice_params(fast_high)
    assert round(length, 3) == 0.8 and shift == 6.0  # two octaves up is clamped to +6
    octave_down = VoiceSpec(voice_id="v", pitch_hz=BASE_F0_HZ / 2, speaking_rate=BASE_RATE / 2)
    length, shift = voice_params(octave_down)
    assert length == 1.4 and shift == -6.0
    assert voice_params(VoiceSpec(voice_id="v")) == (1.0, 0.0)
    assert voice_params(None) == (1.0, 0.0)
