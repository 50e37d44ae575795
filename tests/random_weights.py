"""Random weights for a built model, with BatchNorm statistics a BatchNorm can have
(positive scale and variance): the tests that need non-trivial BatchNorms share it."""
import numpy as np


def randomize(model, seed: int = 0):
    """Every layer's weights drawn at random (standard normal); a BatchNormalization's gamma and
    moving variance uniform in [0.5, 2), its beta and moving mean normal(0, 0.3). Returns model."""
    from aot import layers

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        ws = layer.get_weights()
        if isinstance(layer, layers.BatchNormalization):  # gamma, beta, mean, variance
            ws = [rng.uniform(0.5, 2.0, w.shape) if i in (0, 3) else rng.normal(0, 0.3, w.shape)
                  for i, w in enumerate(ws)]
        else:
            ws = [rng.standard_normal(w.shape) for w in ws]
        layer.set_weights([w.astype(np.float32) for w in ws])
    return model
