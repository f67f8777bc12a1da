"""The voice library: voices stored by content hash with SQLite metadata, speaker (timbre) and
description embeddings, FAISS search, automatic attributes, curation."""

from voices.audio import AudioError
from voices.library import VoiceLibrary
from voices.records import DuplicateVoice
from voices.schema import Quality, Voice, VoiceHit

__all__ = ["AudioError", "DuplicateVoice", "Quality", "Voice", "VoiceHit", "VoiceLibrary"]
