"""Col2Im as one matrix product with a constant 0/1 scatter matrix.

input (N, C*K, L) with K = prod(block_shape) and L block positions; the image (N, C, *image)
sums each column entry into the pixel it came from (block position * stride - pad_begin +
kernel offset * dilation; entries landing in the padding are dropped). image_shape may be
run-time data (the declared output shape gives it); block_shape too: every factorisation of K
that yields L positions is a candidate, and the one block_shape names is picked at run time.
"""
from __future__ import annotations

import itertools

import numpy as np

from aot.ir import DType

from ..registry import converter


def _factorisations(k: int, n: int):
    if n == 1:
        yield (k,)
        return
    for f in range(1, k + 1):
        if k % f == 0:
            for rest in _factorisations(k // f, n - 1):
                yield (f,) + rest


def _grid(image, block, strides, dil, pads):
    n = len(image)
    return [(image[d] + pads[d] + pads[d + n] - dil[d] * (block[d] - 1) - 1) // strides[d] + 1
            for d in range(n)]


def _scatter_matrix(image, block, strides, dil, pads):
    n = len(image)
    grid = _grid(image, block, strides, dil, pads)
    k, L, P = int(np.prod(block)), int(np.prod(grid)), int(np.prod(image))
    m = np.zeros((k * L, P))
    for kk, off in enumerate(itertools.product(*[range(b) for b in block])):
        for l, pos in enumerate(itertools.product(*[range(g) for g in grid])):
            at = [pos[d] * strides[d] - pads[d] + off[d] * dil[d] for d in range(n)]
            if all(0 <= at[d] < image[d] for d in range(n)):
                m[kk * L + l, int(np.ravel_multi_index(at, image))] = 1.0
    return m


@converter("Col2Im", since=18)
def col2im(ctx, node):
    x = ctx.input(0)
    t = ctx.type(x)
    if not t.is_static:
        raise ctx.fail(f"Col2Im needs a static input shape, got {t}")
    if ctx.is_const(1):
        image = tuple(int(v) for v in np.asarray(ctx.const(1)).reshape(-1))
        declared = None
    else:
        declared = ctx.declared_shape()
        if declared is None:
            raise ctx.fail("image_shape is run-time data and the output shape is not declared")
        image = tuple(declared[2:])
    n = len(image)
    strides = tuple(ctx.attr("strides") or (1,) * n)
    dil = tuple(ctx.attr("dilations") or (1,) * n)
    pads = tuple(ctx.attr("pads") or (0,) * (2 * n))
    if ctx.is_const(2):
        blocks = [tuple(int(v) for v in np.asarray(ctx.const(2)).reshape(-1))]
    else:
        c = declared[1] if declared is not None else None
        if c is None:
            raise ctx.fail("block_shape is run-time data and the output shape is not declared")
        k = t.shape[1] // c
        blocks = [b for b in _factorisations(k, n)
                  if all(g > 0 for g in _grid(image, b, strides, dil, pads))
                  and int(np.prod(_grid(image, b, strides, dil, pads))) == t.shape[2]]
        if not blocks:
            raise ctx.fail(f"no block shape fits input {t} and image {image}")
    outs = [_apply(ctx, x, image, b, strides, dil, pads) for b in blocks]
    y = outs[-1]
    if len(blocks) > 1:
        bs = ctx.emit("cast", ctx.input(2), dtype=DType.int64)
        for b, o in zip(blocks[:-1], outs[:-1]):
            hit = ctx.emit("min", ctx.emit("cast", ctx.emit("equal", bs, np.asarray(b, np.int64)),
                                           dtype=DType.int32), axes=None, keepdims=False)
            y = ctx.emit("where", ctx.emit("equal", hit, np.int32(1)), o, y)
    return y


def _apply(ctx, x, image, block, strides, dil, pads):
    nb, ck, L = ctx.type(x).shape
    k = int(np.prod(block))
    c = ck // k
    m = _scatter_matrix(image, block, strides, dil, pads).astype(ctx.type(x).dtype.numpy)
    flat = ctx.emit("reshape", x, shape=(nb, c, k * L))
    y = ctx.emit("matmul", flat, m)
    return ctx.emit("reshape", y, shape=(nb, c) + tuple(image))
