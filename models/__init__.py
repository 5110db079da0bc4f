"""Preprocessing (TFT), the Keras model, its sanity check and the code
fingerprint, all driven by the dataset description (description/)."""

import os

# TFX 1.16's Keras code paths need Keras 2 (tf-keras); TensorFlow reads this
# when it is first imported (../shared/STACK.md).
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
