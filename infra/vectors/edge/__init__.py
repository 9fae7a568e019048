"""The embedded vector store: qdrant-edge shards in a local folder (EdgeVectorStore in store)."""
