"""Serving: export trained generators for TF Serving, and a local server and client that speak
TF Serving's REST and gRPC APIs.

- ``export``: a run's EMA generator (restored alone) as a versioned SavedModel in TF Serving's
  layout (``MODEL_BASE/NAME/<version>/``) with its metadata and model card.
- ``names``: the one model-name rule (export, the server's directory scan, requests).
- ``models``, ``codec``, ``rest``, ``grpc_api``, ``server``: the local server (its module map
  is in ``server``'s docstring); ``client``: REST and gRPC client.

``serving/`` at the repository root holds the TF Serving deployment (models.config, batching
parameters, Docker Compose) and its README.
"""
