"""Converter families; importing this package registers every converter."""
from . import elementwise, nn, shape, reduce, control, extra, quant, rnn, bits, sampling, spectral, windows, col2im  # noqa: F401
from . import ml  # noqa: F401  (the ai.onnx.ml domain)
