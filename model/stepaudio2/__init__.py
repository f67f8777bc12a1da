"""Step-Audio 2: our own implementation, registered with transformers' Auto classes.

Importing this package (`import model.stepaudio2`; the policy does it) registers model_type `step_audio_2`
with `AutoConfig` and `AutoModelForCausalLM`, so `AutoModelForCausalLM.from_pretrained(DIR)`
loads an official or tiny checkpoint without `trust_remote_code`.
"""

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

from model.stepaudio2.configuration import StepAudio2Config, StepAudio2EncoderConfig
from model.stepaudio2.modeling import (
    StepAudio2CheckpointError,
    StepAudio2ForCausalLM,
    check_checkpoint,
)

AutoConfig.register("step_audio_2", StepAudio2Config, exist_ok=True)
AutoConfig.register("step_audio_2_encoder", StepAudio2EncoderConfig, exist_ok=True)
AutoModelForCausalLM.register(StepAudio2Config, StepAudio2ForCausalLM, exist_ok=True)
AutoModel.register(StepAudio2Config, StepAudio2ForCausalLM, exist_ok=True)

__all__ = [
    "StepAudio2CheckpointError",
    "StepAudio2Config",
    "StepAudio2EncoderConfig",
    "StepAudio2ForCausalLM",
    "check_checkpoint",
]
