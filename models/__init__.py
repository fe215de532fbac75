"""Backend-agnostic Keras 3 building blocks (keras.layers and keras.ops only)."""
