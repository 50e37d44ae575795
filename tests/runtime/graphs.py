"""Small graphs shared by the runtime, driver and CLI tests (compiled in well under a second)."""
from __future__ import annotations

import numpy as np

from aot.ir import GraphBuilder, TensorType, all_ops


def two_input_graph(name: str = "tiny"):
    """a, b: f32[N,4]; outputs y = relu(a * w + b) and z = tanh(a) @ m (or tanh(a) * m)."""
    rng = np.random.default_rng(1)
    g = GraphBuilder(name)
    a = g.input("a", TensorType(("N", 4), "float32"))
    b = g.input("b", TensorType(("N", 4), "float32"))
    w = g.param("w", rng.standard_normal(4).astype(np.float32))
    y = g.emit("relu", g.emit("add", g.emit("multiply", a, w), b))
    y.name = "y"
    if "matmul" in all_ops():
        m = g.param("m", rng.standard_normal((4, 3)).astype(np.float32))
        z = g.emit("matmul", g.emit("tanh", a), m)
    else:
        m = g.param("m", rng.standard_normal(4).astype(np.float32))
        z = g.emit("multiply", g.emit("tanh", a), m)
    z.name = "z"
    return g.build([y, z])


def feeds(n: int = 3, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {"a": rng.standard_normal((n, 4)).astype(np.float32),
            "b": rng.standard_normal((n, 4)).astype(np.float32)}
