"""Small shared leaf utilities every package may use: audio decoding/resampling (`core.audio`)
and the process-wide sentence-transformers text embedder (`core.text_embedding`).

This package imports nothing else from the project, so `model`, `retrieval`, `voices`,
`agents` and `assistant` can all depend on it without depending on each other."""
