"""Data sources and readers (TensorFlow-specific code lives here and in the export step)."""
