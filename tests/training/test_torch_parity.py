"""Whole training runs against PyTorch: the same models, the same initial weights, the same
batches, 50 steps; every step's loss agrees within 1e-4 relative.

Models: an MLP (20 -> 32 relu -> 16 relu -> 3) and a LeNet-style CNN (12x12x1 -> Conv2D(4, 3)
relu -> MaxPool(2) -> Conv2D(8, 3) relu -> Flatten -> Dense(10)). Our weights are copied into
torch with the layouts converted: a Dense kernel is (in, out), torch's Linear weight (out, in);
a Conv2D kernel is HWIO on NHWC images, torch's OIHW on NCHW; and Flatten reads NHWC in
(h, w, c) order, so the torch model permutes its NCHW activations to NHWC before flattening.
Loss: sparse categorical crossentropy from logits, torch's `cross_entropy`.

The optimizers' formulas, and why the two sides still compute the same thing:
- SGD with momentum. Keras: v = m*v - lr*g; w += v. Torch: b = m*b + g; w -= lr*b. With a
  constant lr, v = -lr*b at every step, so the updates are identical (up to rounding).
- Adam. Keras: alpha = lr*sqrt(1-b2^t)/(1-b1^t); w -= alpha*m/(sqrt(v)+eps). Torch:
  w -= lr/(1-b1^t) * m/(sqrt(v)/sqrt(1-b2^t)+eps), i.e. Keras' formula with eps replaced by
  eps*sqrt(1-b2^t), an epsilon that changes with the step. Both sides use eps=1e-10, far
  below sqrt(v) for any weight with a gradient worth the name, so the two formulas differ by
  less than float32 rounding (measured: below 6e-7 relative on the losses), and a weight
  whose gradient is exactly zero has m = 0, hence no update, on both sides. With Keras'
  default 1e-7 on both sides the difference is real, not noise: we measured 2e-3 (MLP) and
  up to 3e-2 (CNN, stronger signal) relative on such runs.

Per-step losses come from `model.train_on_batch` (the loss of the batch, before the update);
one run goes through `fit(shuffle=False)` instead, whose batch callbacks report Keras' running
mean, compared with the running mean of torch's losses.
"""
import numpy as np
import pytest
import torch  # a pinned test dependency: the parity check must run, never skip

import aot
from aot import layers
from aot.frontends.keras import callbacks, clear_session, set_random_seed

STEPS, BATCH, RTOL = 50, 16, 1e-4
PATCH = 1.5  # the CNN task's signal: learnable in 50 steps, yet no loss falls near 0, where
#             float32 rounding of -log(p) alone would approach the 1e-4 bound


# ---------------------------------------------------------------- the models, twice

def our_mlp():
    return aot.Sequential([layers.Input(shape=(20,)), layers.Dense(32, activation="relu"),
                           layers.Dense(16, activation="relu"), layers.Dense(3)])


def torch_mlp(weights):
    net = torch.nn.Sequential(torch.nn.Linear(20, 32), torch.nn.ReLU(), torch.nn.Linear(32, 16),
                              torch.nn.ReLU(), torch.nn.Linear(16, 3))
    _copy_dense(net[0], *weights[0:2])
    _copy_dense(net[2], *weights[2:4])
    _copy_dense(net[4], *weights[4:6])
    return net


def our_cnn():
    return aot.Sequential([layers.Input(shape=(12, 12, 1)),
                           layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(2),
                           layers.Conv2D(8, 3, activation="relu"), layers.Flatten(),
                           layers.Dense(10)])


class NHWCFlatten(torch.nn.Module):
    """Flatten in Keras' channels-last order: (N, C, H, W) -> (N, H, W, C) -> (N, H*W*C)."""

    def forward(self, x):
        return x.permute(0, 2, 3, 1).flatten(1)


def torch_cnn(weights):
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                              torch.nn.Conv2d(4, 8, 3), torch.nn.ReLU(), NHWCFlatten(),
                              torch.nn.Linear(72, 10))
    _copy_conv(net[0], *weights[0:2])
    _copy_conv(net[3], *weights[2:4])
    _copy_dense(net[6], *weights[4:6])
    return net


def _copy_dense(linear, kernel, bias):
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel.T)))  # (in,out)->(out,in)
        linear.bias.copy_(torch.from_numpy(bias))


def _copy_conv(conv, kernel, bias):
    with torch.no_grad():
        oihw = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))  # HWIO -> OIHW
        conv.weight.copy_(torch.from_numpy(oihw))
        conv.bias.copy_(torch.from_numpy(bias))


MODELS = {"mlp": (our_mlp, torch_mlp, (20,), 3), "cnn": (our_cnn, torch_cnn, (12, 12, 1), 10)}

OPTIMIZERS = {  # (ours, torch's), the same hyperparameters
    "sgd_momentum": (lambda: aot.optimizers.SGD(learning_rate=0.05, momentum=0.9),
                     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
    "adam": (lambda: aot.optimizers.Adam(learning_rate=0.01, epsilon=1e-10),
             lambda p: torch.optim.Adam(p, lr=0.01, eps=1e-10)),
}


# ---------------------------------------------------------------- data and runs

def batches(model_name: str):
    """STEPS batches with learnable labels, so the loss actually falls and the comparison
    covers a moving trajectory: for the MLP the argmax of a fixed random linear map; for
    the CNN the position of a bright 2x2 patch (one of 10 places) in a noisy image."""
    _, _, shape, classes = MODELS[model_name]
    rng = np.random.default_rng(1)
    x = rng.standard_normal((STEPS, BATCH) + shape).astype(np.float32)
    if model_name == "cnn":
        y = rng.integers(0, classes, (STEPS, BATCH))
        rows, cols = np.divmod(np.arange(classes), 5)  # patches at (2 + 5r, 1 + 2c)
        for s, b in np.ndindex(STEPS, BATCH):
            r, c = 2 + 5 * rows[y[s, b]], 1 + 2 * cols[y[s, b]]
            x[s, b, r:r + 2, c:c + 2, 0] += PATCH
        return x, y.astype(np.int64)
    w = rng.standard_normal((int(np.prod(shape)), classes)).astype(np.float32)
    y = np.argmax(x.reshape(STEPS, BATCH, -1) @ w, axis=-1).astype(np.int64)
    return x, y


def ours(model_name: str, opt_name: str):
    """(compiled model, its initial weights)."""
    clear_session()
    set_random_seed(0)
    model = MODELS[model_name][0]()
    model.compile(optimizer=OPTIMIZERS[opt_name][0](),
                  loss=aot.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model, model.get_weights()


def torch_losses(model_name: str, opt_name: str, weights, x, y) -> np.ndarray:
    net = MODELS[model_name][1](weights)
    opt = OPTIMIZERS[opt_name][1](net.parameters())
    out = []
    for xb, yb in zip(x, y):
        if xb.ndim == 4:  # NHWC -> NCHW
            xb = np.ascontiguousarray(xb.transpose(0, 3, 1, 2))
        xb = torch.from_numpy(xb)
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(xb), torch.from_numpy(yb))
        loss.backward()
        opt.step()
        out.append(loss.item())
    return np.array(out)


def assert_same_losses(got, expected) -> None:
    rel = np.abs(got - expected) / np.abs(expected)
    assert rel.max() < RTOL, (f"step {rel.argmax() + 1}: loss {got[rel.argmax()]} vs torch "
                              f"{expected[rel.argmax()]} (relative {rel.max():.2e}); worst 5 steps "
                              f"{np.argsort(rel)[-5:] + 1}")


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("model_name", sorted(MODELS))
def test_per_step_losses_match_torch(model_name, opt_name):
    x, y = batches(model_name)
    model, w0 = ours(model_name, opt_name)
    got = np.array([float(model.train_on_batch(xb, yb)) for xb, yb in zip(x, y)])
    expected = torch_losses(model_name, opt_name, w0, x, y)
    assert_same_losses(got, expected)
    assert expected[-10:].mean() < 0.8 * expected[:10].mean()  # it trained: a real trajectory
    assert model.optimizer.iterations.numpy() == STEPS


class BatchLosses(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(logs["loss"])


def test_fit_without_shuffling_follows_torch():
    """The same through fit: one epoch over the concatenated batches, in order."""
    x, y = batches("cnn")
    model, w0 = ours("cnn", "adam")
    seen = BatchLosses()
    model.fit(x.reshape((-1,) + x.shape[2:]), y.reshape(-1), batch_size=BATCH, epochs=1,
              shuffle=False, verbose=0, callbacks=[seen])
    expected = torch_losses("cnn", "adam", w0, x, y)
    running = np.cumsum(expected) / np.arange(1, STEPS + 1)  # Keras logs the epoch's running mean
    assert_same_losses(np.array(seen.losses), running)
