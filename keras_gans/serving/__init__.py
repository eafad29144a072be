"""Serving: export trained generators for TF Serving (``export``), and the server/client modules.

``keras_gans.serving.export`` writes a run's EMA generator as a versioned SavedModel in TF
Serving's layout (``MODEL_BASE/NAME/<version>/``); ``serving/`` at the repository root holds the
TF Serving deployment (models.config, batching parameters, Docker Compose) and its README.
"""
