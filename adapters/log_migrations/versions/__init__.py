"""The revisions of the decision log's schema, oldest first (0001 is the first schema)."""
