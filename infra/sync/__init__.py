"""Collections kept in sync with their buckets and folders: sources, listing, comparing."""
