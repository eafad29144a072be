"""Test helpers: prepared datasets without Beam, Keras layer/model checks, serving fixtures."""
