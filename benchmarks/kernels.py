"""Our untuned kernels and zoo models against ONNX Runtime (2 threads), in one process,
interleaved: each round runs every contestant once, so load from other processes hits
them alike. Prints medians, min/max and the ratio ours/ORT; never asserts.

    .venv/bin/python benchmarks/kernels.py                 # everything
    .venv/bin/python benchmarks/kernels.py resnet18 conv3x3_56 --rounds 20
    .venv/bin/python benchmarks/kernels.py --int8-depthwise --rounds 50
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import aot  # noqa: E402
import aot.models as zoo  # noqa: E402
from aot.driver import optimize_entries, to_graph  # noqa: E402
from aot.ir.builder import GraphBuilder  # noqa: E402
from aot.ir.types import TensorType  # noqa: E402

from benchmarks.onnx_export import to_onnx  # noqa: E402


def _single_op(name, op, x_shape, w_shape, **attrs):
    """A one-op graph: op(x, w) with random weights; batch dim symbolic as in the zoo."""
    rng = np.random.default_rng(0)
    b = GraphBuilder(name)
    x = b.input("x", TensorType(("N",) + tuple(x_shape[1:]), "f32"))
    w = b.param("w", rng.standard_normal(w_shape).astype(np.float32) * 0.05)
    return b.build([b.emit(op, x, w, **attrs)]), {"x": rng.standard_normal(x_shape).astype(np.float32)}


def _zoo(name, batch, **kwargs):
    model = zoo.get(name, **kwargs)
    return optimize_entries(to_graph(model))["predict"], zoo.example_inputs(model, batch=batch)


CASES = {
    "matmul_32x784x256": lambda: _single_op("mm", "matmul", (32, 784), (784, 256)),
    "matmul_128x128x512": lambda: _single_op("mm", "matmul", (128, 128), (128, 512)),
    "conv3x3_56x64": lambda: _single_op("conv", "conv2d", (1, 56, 56, 64), (3, 3, 64, 64),
                                        padding=(1, 1, 1, 1)),
    "conv3x3_7x512": lambda: _single_op("conv", "conv2d", (1, 7, 7, 512), (3, 3, 512, 512),
                                        padding=(1, 1, 1, 1)),
    "mlp_b1": lambda: _zoo("mlp", 1),
    "mlp_b32": lambda: _zoo("mlp", 32),
    "lenet_b64": lambda: _zoo("lenet", 64),
    "resnet18": lambda: _zoo("resnet18", 1),
    "mobilenet_v2": lambda: _zoo("mobilenet_v2", 1),
    "transformer_s128": lambda: _zoo("transformer_encoder", 1),
    "lstm_s64_b8": lambda: _zoo("lstm_classifier", 8),
}


# --- Memory-bound kernels and depthwise conv (default schedules in schedules/memory.py and
# schedules/depthwise.py). Kept in their own block: other helpers add cases above.
def _unary_graph(name, x_shape, body):
    """A graph of `body(builder, x)` on one input whose batch dim is symbolic."""
    rng = np.random.default_rng(0)
    b = GraphBuilder(name)
    x = b.input("x", TensorType(("N",) + tuple(x_shape[1:]), "f32"))
    return b.build([body(b, x)]), {"x": rng.standard_normal(x_shape).astype(np.float32)}


def _layer_norm(b, x):
    """LayerNormalization as the Keras frontend writes it (mean, centre, variance, rsqrt)."""
    centered = b.emit("subtract", x, b.emit("mean", x, axes=(-1,), keepdims=True))
    var = b.emit("mean", b.emit("multiply", centered, centered), axes=(-1,), keepdims=True)
    eps = b.const(np.array(1e-3, np.float32))
    return b.emit("multiply", centered, b.emit("rsqrt", b.emit("add", var, eps)))


CASES.update({
    "dwconv3x3_112x32": lambda: _single_op("dw", "conv2d", (1, 112, 112, 32), (3, 3, 1, 32),
                                           padding=(1, 1, 1, 1), groups=32),
    "dwconv3x3_s2_112x96": lambda: _single_op("dw", "conv2d", (1, 112, 112, 96), (3, 3, 1, 96),
                                              padding=(0, 0, 1, 1), strides=(2, 2), groups=96),
    "dwconv3x3_14x576": lambda: _single_op("dw", "conv2d", (1, 14, 14, 576), (3, 3, 1, 576),
                                           padding=(1, 1, 1, 1), groups=576),
    "maxpool3x3_s2_112x64": lambda: _unary_graph("mp", (1, 112, 112, 64), lambda b, x: b.emit(
        "max_pool2d", x, pool_size=(3, 3), strides=(2, 2), padding=(1, 1, 1, 1))),
    "avgpool2x2_56x64": lambda: _unary_graph("ap", (1, 56, 56, 64), lambda b, x: b.emit(
        "avg_pool2d", x, pool_size=(2, 2), strides=(2, 2))),
    "globalavg_7x512": lambda: _unary_graph("gap", (1, 7, 7, 512), lambda b, x: b.emit(
        "mean", x, axes=(1, 2))),
    "softmax_8x128x128": lambda: _unary_graph("sm", (8, 128, 128), lambda b, x: b.emit(
        "softmax", x, axis=-1)),
    "softmax_1x1000": lambda: _unary_graph("sm", (1, 1000), lambda b, x: b.emit("softmax", x, axis=-1)),
    "layernorm_128x512": lambda: _unary_graph("ln", (1, 128, 512), _layer_norm),
    "mean_rows_256x1024": lambda: _unary_graph("mean", (1, 256, 1024), lambda b, x: b.emit(
        "mean", x, axes=(-1,))),
    "transpose_64x384x64": lambda: _unary_graph("tr", (1, 64, 384, 64), lambda b, x: b.emit(
        "transpose", x, perm=(0, 2, 1, 3))),
    "add_relu_56x56x256": lambda: _unary_graph("ew", (1, 56, 56, 256), lambda b, x: b.emit(
        "relu", b.emit("add", x, b.emit("multiply", x, x)))),
})


# --- Contraction kernels (schedules/contraction.py: register tile, panel packing). Kept in
# their own block: other helpers add cases above.
CASES.update({
    "dense_b1_784x256": lambda: _single_op("mm", "matmul", (1, 784), (784, 256)),
    "dense_b1_512x1000": lambda: _single_op("mm", "matmul", (1, 512), (512, 1000)),
    "dense_b1_1280x1000": lambda: _single_op("mm", "matmul", (1, 1280), (1280, 1000)),
    "dense_b32_512x1000": lambda: _single_op("mm", "matmul", (32, 512), (512, 1000)),
    "dense_b1_128x512": lambda: _single_op("mm", "matmul", (1, 128), (128, 512)),
    "conv3x3_28x128": lambda: _single_op("conv", "conv2d", (1, 28, 28, 128), (3, 3, 128, 128),
                                         padding=(1, 1, 1, 1)),
    "conv1x1_56x64x256": lambda: _single_op("conv", "conv2d", (1, 56, 56, 64), (1, 1, 64, 256)),
    "conv1x1_14x256x1024": lambda: _single_op("conv", "conv2d", (1, 14, 14, 256),
                                              (1, 1, 256, 1024)),
})


# --- int8 depthwise conv (aot/ops/quant.py's depthwise kernel, schedules/int8_depthwise.py):
# a MobileNetV2 depthwise layer as the quantize pass leaves it (u8 in, u8 out: qconv2d, + bias,
# requantize) against the same layer in float32 (conv2d, + bias, ReLU6) and against the int8
# path it replaced (an int32 relax conv2d of the centred data). `--int8-depthwise`.
INT8_DW_CASES = {  # name: (input shape, strides, padding)
    "dw3x3_112x96": ((1, 112, 112, 96), (1, 1), (1, 1, 1, 1)),
    "dw3x3_s2_56x144": ((1, 56, 56, 144), (2, 2), (0, 0, 1, 1)),
}


def _dw_layer(shape, strides, padding, int8: bool):
    """(graph, feeds) of one depthwise layer with random weights, float32 or int8."""
    rng, c = np.random.default_rng(0), shape[-1]
    b = GraphBuilder("dw")
    x = b.input("x", TensorType(("N",) + shape[1:], "u8" if int8 else "f32"))
    attrs = dict(strides=strides, padding=padding, groups=c)
    if int8:
        w = b.const(rng.integers(-127, 128, (3, 3, 1, c)).astype(np.int8), name="w")
        y = b.emit("qconv2d", x, w, b.const(np.int32(3), name="zp"), **attrs)
        y = b.emit("add", y, b.const(rng.integers(-5000, 5000, c).astype(np.int32), name="bias"))
        mult = b.const(np.linspace(0.002, 0.004, c).astype(np.float32), name="mult")
        y = b.emit("requantize", y, mult, b.const(np.int32(0), name="zy"), dtype="u8")
        return b.build([y]), {"x": rng.integers(0, 256, shape).astype(np.uint8)}
    w = b.const(rng.standard_normal((3, 3, 1, c)).astype(np.float32), name="w")
    y = b.emit("conv2d", x, w, **attrs)
    y = b.emit("clip", b.emit("add", y, b.const(rng.standard_normal(c).astype(np.float32),
                                                name="bias")), min=0.0, max=6.0)
    return b.build([y]), {"x": rng.standard_normal(shape).astype(np.float32)}


def measure_int8_depthwise(name, rounds):
    """Medians (ms) of the float32 layer, the old int8 path and the new int8 kernel, timed
    in turns (each round runs each once); the two int8 builds must agree bit for bit."""
    from unittest import mock

    import aot.ops.quant as quant

    shape, strides, padding = INT8_DW_CASES[name]
    (fg, ff), (qg, qf) = (_dw_layer(shape, strides, padding, i8) for i8 in (False, True))
    mods = {"f32": aot.compile(fg, target="llvm")}
    with mock.patch.object(quant, "_is_depthwise", lambda *a: False):
        mods["int8_old"] = aot.compile(qg, target="llvm")
    mods["int8_new"] = aot.compile(qg, target="llvm")
    old, new = (next(iter(mods[k].run(qf).values())) for k in ("int8_old", "int8_new"))
    if not np.array_equal(old, new):
        raise RuntimeError(f"{name}: the new int8 depthwise kernel differs from the old path")
    runs = {"f32": lambda: mods["f32"].run(ff), "int8_old": lambda: mods["int8_old"].run(qf),
            "int8_new": lambda: mods["int8_new"].run(qf)}
    times = {k: [] for k in runs}
    for _ in range(rounds):
        for k, fn in runs.items():
            fn()  # untimed: the previous contestant's data leaves the caches alike for all
            t = time.perf_counter()
            fn()
            times[k].append((time.perf_counter() - t) * 1e3)
    return {k: float(np.median(v)) for k, v in times.items()}


def main_int8_depthwise(cases, rounds):
    print(f"{'case':18s} {'f32 ms':>8s} {'int8 old':>9s} {'int8 new':>9s} {'new/f32':>8s} "
          f"{'new/old':>8s}")
    for name in cases or INT8_DW_CASES:
        t = measure_int8_depthwise(name, rounds)
        print(f"{name:18s} {t['f32']:8.3f} {t['int8_old']:9.3f} {t['int8_new']:9.3f} "
              f"{t['int8_new'] / t['f32']:7.2f}x {t['int8_new'] / t['int8_old']:7.2f}x", flush=True)


def _ort_session(graph, threads):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    # ORT's workers spin after each run by default and starve our threads when the two
    # are interleaved on few cores (the contest then measures the spin, not the kernel).
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(to_onnx(graph).SerializeToString(), so,
                                providers=["CPUExecutionProvider"])


def _timed(fn, rounds):
    fn()  # warm up
    return fn


def measure(name, rounds, threads):
    graph, feeds = CASES[name]()
    ours = aot.compile(graph, target="llvm")
    sess = _ort_session(graph, threads)
    run = {"ours": lambda: ours.run(feeds), "ort": lambda: sess.run(None, feeds)}
    want = sess.run(None, feeds)[0]
    got = next(iter(ours.run(feeds).values()))
    err = float(np.max(np.abs(got - want)) / (np.max(np.abs(want)) + 1e-12))
    for fn in run.values():
        fn()
    times = {k: [] for k in run}
    for _ in range(rounds):
        for k, fn in run.items():
            t = time.perf_counter()
            fn()
            times[k].append((time.perf_counter() - t) * 1e3)
    return {k: (float(np.median(v)), float(np.min(v)), float(np.max(v))) for k, v in times.items()}, err


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cases", nargs="*", default=None)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--int8-depthwise", action="store_true",
                   help=f"int8 vs float32 depthwise layers instead: {', '.join(INT8_DW_CASES)}")
    args = p.parse_args(argv)
    if args.int8_depthwise:
        return main_int8_depthwise(args.cases, args.rounds)
    args.cases = args.cases or list(CASES)
    print(f"{'case':22s} {'ours ms (min-max)':>24s} {'ORT ms (min-max)':>24s} {'ours/ORT':>9s} {'rel.err':>8s}")
    for name in args.cases:
        t, err = measure(name, args.rounds, args.threads)
        (om, o0, o1), (rm, r0, r1) = t["ours"], t["ort"]
        print(f"{name:22s} {om:9.3f} ({o0:.3f}-{o1:.3f}) {rm:9.3f} ({r0:.3f}-{r1:.3f}) "
              f"{om / rm:8.2f}x {err:8.1e}", flush=True)


if __name__ == "__main__":
    main()
