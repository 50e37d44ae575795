"""The model zoo, written with the Keras-style builder exactly as a Keras user would.

    aot.models.names()                     -> ['dcgan_generator', 'lenet', ...]
    aot.models.resnet18(input_shape=(64, 64, 3), classes=10)
    aot.models.get("mlp")                  -> a built model
    aot.models.example_inputs("mlp", batch=2) -> {input name: array}

Every model takes its sizes as arguments, so tests build tiny ones and
benchmarks the real ones.
"""
from __future__ import annotations

import numpy as np

from .cnn import lenet, vgg16
from .dcgan import dcgan_generator
from .mlp import mlp
from .mobilenet import mobilenet_v2
from .resnet import resnet18
from .sequence import lstm_classifier, transformer_encoder

_ZOO = {
    "mlp": mlp,
    "lenet": lenet,
    "resnet18": resnet18,
    "mobilenet_v2": mobilenet_v2,
    "transformer_encoder": transformer_encoder,
    "lstm_classifier": lstm_classifier,
    "dcgan_generator": dcgan_generator,
    "vgg16": vgg16,
}


def names() -> list[str]:
    return sorted(_ZOO)


def get(name: str, **kwargs):
    """Build the zoo model `name` (keyword arguments go to its builder)."""
    if name not in _ZOO:
        raise KeyError(f"unknown zoo model {name!r}; known: {', '.join(names())}")
    return _ZOO[name](**kwargs)


def example_inputs(model, batch: int = 1, seed: int = 0) -> dict:
    """Random inputs that fit `model`'s inputs (token ids stay within the embedding's range)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for inp in model.to_graph().inputs:
        shape = tuple(batch if isinstance(d, str) else d for d in inp.type.shape)
        dt = inp.type.dtype.numpy
        if dt.kind in "iu":
            feeds[inp.name] = rng.integers(0, getattr(model, "vocab_size", 10), size=shape).astype(dt)
        else:
            feeds[inp.name] = rng.standard_normal(shape).astype(dt)
    return feeds


__all__ = ["names", "get", "example_inputs"] + list(_ZOO)
