"""stepvox.model: policies (embedded, Step-Audio 2, remote), token2wav, shared message types."""

# registers model_type "step_audio_2" with transformers' Auto classes
from model import stepaudio2 as _stepaudio2  # noqa: F401
from model.events import (
    AudioChunk,
    AudioTokens,
    Done,
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
    from_langchain,
    to_langchain,
)
from model.policy import CancelToken, Policy, Speaker, ToolSpec, VoiceSpec, get_policy

__all__ = [
    "AudioChunk", "AudioTokens", "Done", "PolicyEvent", "TextDelta", "ToolCall", "Transcript",
    "AudioPart", "AudioTokensPart", "Message", "TextPart", "ToolCallPart", "ToolResultPart",
    "VoiceRefPart", "from_langchain", "to_langchain", "CancelToken", "Policy", "Speaker",
    "ToolSpec", "VoiceSpec", "get_policy",
]
