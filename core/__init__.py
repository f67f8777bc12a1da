"""Small shared leaf utilities every package may use: audio decoding/resampling (`core.audio`)
and the process-wide sentence-transformers text embedder (`core.text_embedding`).

This package imports nothing else from the project, so `model`, `retrieval`, `voices`,
`agents` and `assistant` can all depend on it without depending on each other.

Importing it turns off onnxruntime's telemetry for the process (unless ORT_DISABLE_TELEMETRY
is already set): from version 1.2x onnxruntime, when first imported, writes a device id and an
event database under ~/.cache/Microsoft/DeveloperTools/.onnxruntime (outside STEPVOX_HOME,
whatever it is set to) and uploads usage events. Piper, silero-vad and token2wav's front end
all load onnxruntime, so every project package imports `core` before any of them.
"""

import os

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
