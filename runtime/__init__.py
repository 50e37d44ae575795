"""The runtime: load an artifact and run it, with only TVM's runtime library.

    m = aot.runtime.load("classifier.aot")
    probs = m.predict(x)                    # Keras-like
    outs = m.run({"x": x}, ["probs"])       # ONNX Runtime-like
    m.load_state_dict(weights); m.save("classifier.aot")
    m.train_step(x, y); m.evaluate(x_test, y_test)   # artifacts compiled for training

Never imports aot.ir, aot.codegen, aot.frontends, aot.passes or onnx
(tests/runtime/test_isolation.py checks it in a fresh process).
"""
from .errors import ArtifactError, InputError, NonFiniteLossError
from .metrics import Accumulator
from .module import Module, load
from .signature import Signature, TensorSpec

__all__ = ["Accumulator", "ArtifactError", "InputError", "Module", "NonFiniteLossError", "Signature",
           "TensorSpec", "load"]
