"""stepvox.model: policies (embedded, Step-Audio 2, remote), token2wav, message and event types.

Importing `model` is cheap (the contract, events, messages, the registry); a policy's heavy
stack loads when it is built. `import model.stepaudio2` registers model_type `step_audio_2`
with transformers' Auto classes.
"""
import core  # noqa: F401 - first: it turns onnxruntime's telemetry off before any policy loads it
from model.events import (
    AudioChunk,
    AudioTokens,
    Done,
    Event,
    PolicyEvent,
    TextDelta,
    ToolCall,
    Transcript,
)
from model.messages import (
    AudioPart,
    AudioTokensPart,
    Message,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    VoiceRefPart,
)
from model.policy import (
    CancelToken,
    Policy,
    PreviousCall,
    Speaker,
    SpeechSegment,
    ToolSpec,
    VoiceSpec,
)
from model.registry import get_policy, policy_names, register

__all__ = [
    "AudioChunk", "AudioTokens", "Done", "Event", "PolicyEvent", "TextDelta", "ToolCall",
    "Transcript", "AudioPart", "AudioTokensPart", "Message", "TextPart", "ToolCallPart",
    "ToolResultPart", "VoiceRefPart", "CancelToken", "Policy", "PreviousCall", "Speaker",
    "SpeechSegment", "ToolSpec", "VoiceSpec", "get_policy", "policy_names", "register",
]
