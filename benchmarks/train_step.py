"""Our compiled training step against PyTorch eager (2 threads), in one process, interleaved:
each round runs a few steps of ours, then the same of torch, so load from other processes
hits both alike. Prints per-step medians, min/max and the ratio ours/torch; never asserts.

    .venv/bin/python benchmarks/train_step.py                  # mlp and lenet, batch 64, Adam
    .venv/bin/python benchmarks/train_step.py lenet --rounds 40 --batch 32

Ours: the zoo model compiled with Adam and sparse categorical crossentropy, saved, and loaded
back with `aot.runtime.load(path)`; each timed call is the runtime's `train_step(x, y)` on
numpy arrays: the artifact `fit` runs (one kernel library: forward, loss, gradients, Adam,
with the weights and slots updated in place), plus the runtime's per-call input checks and
host->device copies. Torch: the same architecture (NCHW, the same softmax output and clipped
log likelihood as Keras' loss), forward + backward + Adam.step(), with the batch given as
torch tensors built beforehand.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TVM_NUM_THREADS", "2")  # TVM's thread pool, before tvm is loaded

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import aot  # noqa: E402
import aot.models as zoo  # noqa: E402
from aot.runtime.dtypes import numpy_dtype  # noqa: E402

LR = 1e-3


# ---------------------------------------------------------------- torch twins of the zoo models

def _torch_mlp(nn):
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                         nn.Linear(128, 10), nn.Softmax(-1))


def _torch_lenet(nn):
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Conv2d(6, 16, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Flatten(), nn.Linear(16 * 7 * 7, 120), nn.ReLU(), nn.Linear(120, 84),
                         nn.ReLU(), nn.Linear(84, 10), nn.Softmax(-1))


CASES = {  # name -> (zoo model, torch twin, input shape of one sample, NHWC->NCHW)
    "mlp": (zoo.mlp, _torch_mlp, (784,), False),
    "lenet": (zoo.lenet, _torch_lenet, (28, 28, 1), True),
}


# ---------------------------------------------------------------- the two contestants

def ours(name: str, workdir: str):
    """(the runtime module's train_step, compile seconds)."""
    model = CASES[name][0]()
    model.compile(optimizer=aot.optimizers.Adam(LR), loss="sparse_categorical_crossentropy")
    t = time.perf_counter()
    path = os.path.join(workdir, f"{name}.aot")
    model.save(path)  # compiles predict, train_step and evaluate into one artifact
    seconds = time.perf_counter() - t
    return aot.runtime.load(path), seconds


def torch_step(name: str, x: np.ndarray, y: np.ndarray):
    import torch

    net = CASES[name][1](torch.nn)
    opt = torch.optim.Adam(net.parameters(), lr=LR, eps=1e-7)
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if CASES[name][3] else x)
    yt = torch.from_numpy(y.astype(np.int64))

    def step():
        opt.zero_grad()
        probs = net(xt).clamp(1e-7, 1 - 1e-7)  # Keras' sparse crossentropy on probabilities
        loss = torch.nn.functional.nll_loss(probs.log(), yt)
        loss.backward()
        opt.step()
        return loss.item()
    return step


def measure(name: str, batch: int, rounds: int, per_round: int, warmup: int, workdir: str):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch,) + CASES[name][2]).astype(np.float32)
    y = rng.integers(0, 10, batch)
    module, compile_s = ours(name, workdir)
    label = module.signatures["train_step"].inputs[-1]
    y_ours = y.astype(numpy_dtype(label.dtype))  # the runtime takes exact dtypes
    run = {"ours": lambda: module.train_step(x, y_ours), "torch": torch_step(name, x, y)}
    for fn in run.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in run}
    for _ in range(rounds):
        for k, fn in run.items():
            for _ in range(per_round):
                t = time.perf_counter()
                fn()
                times[k].append((time.perf_counter() - t) * 1e3)
    stats = {k: (float(np.median(v)), float(np.min(v)), float(np.max(v))) for k, v in times.items()}
    return stats, compile_s


def main(argv=None):
    import torch

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cases", nargs="*", default=list(CASES))
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--per-round", type=int, default=5)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"train step, batch {args.batch}, Adam; ours = aot.runtime.load(...).train_step(x, y); "
          f"torch {torch.__version__} eager, {args.threads} threads; "
          f"{args.rounds} rounds x {args.per_round} steps each, interleaved; "
          "load average %.2f" % os.getloadavg()[0])
    print(f"{'model':8s} {'ours ms (min-max)':>26s} {'torch ms (min-max)':>26s} "
          f"{'ours/torch':>11s} {'compile s':>10s}")
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.cases:
            t, compile_s = measure(name, args.batch, args.rounds, args.per_round, args.warmup,
                                   workdir)
            (om, o0, o1), (tm, t0, t1) = t["ours"], t["torch"]
            print(f"{name:8s} {om:10.3f} ({o0:.3f}-{o1:.3f}) {tm:10.3f} ({t0:.3f}-{t1:.3f}) "
                  f"{om / tm:10.2f}x {compile_s:10.1f}", flush=True)
    print("load average (1, 5, 15 min) at the end: %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()
