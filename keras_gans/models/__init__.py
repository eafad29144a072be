"""Architectures: each is a generator / discriminator pair of Keras models plus presets.

``keras_gans.models.registry`` maps an architecture name to a builder used by training.
"""
