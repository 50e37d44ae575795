"""Floating-point work of a graph and the peak rate of this CPU, for GFLOP/s figures.

Only the contractions count (matmul, conv2d: 2 flops per multiply-add); elementwise ops,
pooling and softmax are a rounding error next to them in the zoo models, and counting them
would flatter memory-bound kernels.
"""
from __future__ import annotations

import re

import numpy as np


def _concrete(shape, batch):
    return [batch if isinstance(d, str) else d for d in shape]


def node_flops(node, batch: int) -> int:
    op = node.op.name
    if op == "matmul":
        a = _concrete(node.inputs[0].type.shape, batch)
        out = _concrete(node.outputs[0].type.shape, batch)
        return 2 * int(np.prod(out)) * int(a[-1])
    if op == "conv2d":
        w = node.inputs[1].type.shape
        out = _concrete(node.outputs[0].type.shape, batch)
        a = node.attrs
        kh, kw, cin = (w[0], w[1], w[2]) if a.layout == "NHWC" else (w[2], w[3], w[1])
        return 2 * int(np.prod(out)) * kh * kw * cin  # cin is already per group
    return 0


def count_flops(graph, batch: int) -> int:
    """Flops of one call of `graph` with the symbolic batch set to `batch`."""
    return sum(node_flops(n, batch) for n in graph.nodes)


def cpu_peak(cores: int) -> tuple[float, str]:
    """(peak FP32 GFLOP/s, the assumption behind it): cores x 2 AVX-512 FMA units x 16 lanes
    x 2 flops x the clock /proc/cpuinfo reports (the TSC rate under a hypervisor; all-core
    AVX-512 turbo may differ)."""
    flags, mhz = "", 0.0
    try:
        text = open("/proc/cpuinfo").read()
        flags = re.search(r"^flags\s*:(.*)$", text, re.M).group(1)
        mhz = float(re.search(r"^cpu MHz\s*:\s*([\d.]+)", text, re.M).group(1))
    except (OSError, AttributeError):
        pass
    lanes = 16 if " avx512f" in flags else 8 if " avx2" in flags else 4
    fma_units = 2
    ghz = mhz / 1000 or 2.0
    peak = cores * fma_units * lanes * 2 * ghz
    return peak, (f"{cores} cores x {fma_units} FMA units x {lanes} fp32 lanes x 2 flops x "
                  f"{ghz:.2f} GHz")
