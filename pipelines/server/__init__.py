"""``python -m pipelines serve``: exported SavedModels over HTTP with TF Serving's REST contract.

- :mod:`.serve_cli`: the command (which runs, host and port), quiet start-up, clean stop;
- :mod:`.model_store`: the served models by name; :mod:`.served_model`: one loaded export, its
  signatures, bounds (``cfg.serve``) and metadata;
- :mod:`.tensor_json`: JSON requests (row and columnar formats) to arrays and outputs back;
- :mod:`.app`: the FastAPI application (predict, status, metadata, model list, health, pages).
"""
