"""The live voice loop: streams, endpointing, playback, barge-in, terminal transcript."""

from assistant.live.endpointer import EndpointConfig, Endpointer
from assistant.live.loop import VoiceLoop, sounddevice_factories
from assistant.live.playback import Player
from assistant.live.session import LiveSession, TurnRecord
from assistant.live.stream import FileInputStream, FileOutputStream, list_devices

__all__ = [
    "EndpointConfig",
    "Endpointer",
    "FileInputStream",
    "FileOutputStream",
    "LiveSession",
    "Player",
    "TurnRecord",
    "VoiceLoop",
    "list_devices",
    "sounddevice_factories",
]
