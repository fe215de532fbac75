"""Shared Keras callbacks (TensorFlow-specific where they need gradients or summaries)."""
