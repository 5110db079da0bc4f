"""Known-harmless log lines: kept in the log file, never shown on the console.

Each one was seen on successful runs of this pipeline (issue 20); most come
from TensorFlow probing for a GPU this machine does not have.
"""

from typing import Tuple

HARMLESS: Tuple[str, ...] = (
    # TensorFlow looking for CUDA on a CPU-only machine (some marked E).
    'Unable to register cuDNN factory',
    'Unable to register cuFFT factory',
    'Unable to register cuBLAS factory',
    'Could not find cuda drivers',
    'failed call to cuInit',
    'TF-TRT Warning',
    'cuda_dnn.cc', 'cuda_fft.cc', 'cuda_blas.cc', 'cudart_stub.cc',
    'This TensorFlow binary is optimized to use available CPU instructions',
    'rebuild TensorFlow with the appropriate compiler flags',
    'oneDNN custom operations are on',
    'All log messages before absl::InitializeLog() is called are written to STDERR',
    # TFX / ML Metadata on a SQLite store.
    'ArtifactQuery.property_predicate is not supported',
    # tf.data reaching the end of a dataset it reads to the end (TFDV, skew).
    'Local rendezvous is aborting with status: OUT_OF_RANGE: End of sequence',
    # tf.Transform saving its graph.
    'Issue encountered when serializing tft_mapper_use',
    'You are using a non-supported Python version',
)


def is_harmless(line: str) -> bool:
  return any(pattern in line for pattern in HARMLESS)
