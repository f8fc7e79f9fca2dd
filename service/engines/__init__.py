"""Model engines: the interface the pipeline calls, its implementations, and their loader."""
