"""Training: the ``GAN`` model (train step, EMA, growth), its config and presets' resolution,
checkpoints and restores, tf.distribute strategies, callbacks, and the ``train`` loop."""
