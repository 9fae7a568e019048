"""The vector store over qdrant-client: a Qdrant server (QdrantServerStore in store)."""
