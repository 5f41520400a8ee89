"""A run on disk: its folder layout, the single-writer lock, checkpoints, and the resume policy."""
