"""Shape ops: reshape, transpose, expand_dims, squeeze, concat, split, slice,
broadcast_to, broadcast_like, pad, tile and flip, with their gradient rules.

Symbolic dims are symbols ("N") or expressions over them ("N+2", "2*N", see
`aot.ir.dims`): concat sums them, pad and tile add and multiply, reshape infers a
-1 by polynomial division. A slice of a symbolic dim takes the dim to be long
enough for its bounds (a slice [1:3] of N has 2 elements); min(N,3) has no form, so
the type rule says so instead of guessing. A symbol in a reshape target must be a
symbol of the input; the reference reads its size from the bindings the
interpreter makes from the graph inputs. A symbol in a broadcast_to target must
be the aligned dim of the input. `broadcast_like(x, like)` takes
its target from a second tensor instead, which is how a gradient rule makes a
tensor with a symbolic dim its input lacks (the gradient of a sum over the batch).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import numpy as np

from aot.ir import dims
from aot.ir.opdef import register
from aot.ir.types import Dim, TensorType, format_shape

from .common import norm_axes, norm_axis, same_dtype
from .grad_helpers import add


@dataclass(frozen=True)
class ReshapeAttrs:
    shape: tuple[Dim, ...]


@dataclass(frozen=True)
class TransposeAttrs:
    perm: Optional[tuple[int, ...]] = None  # None: reverse the axes


@dataclass(frozen=True)
class ExpandDimsAttrs:
    axes: tuple[int, ...]  # positions in the output, as ONNX Unsqueeze


@dataclass(frozen=True)
class SqueezeAttrs:
    axes: Optional[tuple[int, ...]] = None  # None: every size-1 dim


@dataclass(frozen=True)
class ConcatAttrs:
    axis: int = 0


@dataclass(frozen=True, kw_only=True)
class SplitAttrs:
    axis: int = 0
    sizes: tuple[int, ...]


@dataclass(frozen=True)
class SliceAttrs:
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    axes: Optional[tuple[int, ...]] = None  # None: 0..len(starts)-1
    steps: Optional[tuple[int, ...]] = None  # None: all 1


@dataclass(frozen=True)
class BroadcastToAttrs:
    shape: tuple[Dim, ...]


@dataclass(frozen=True)
class PadAttrs:
    pads: tuple[int, ...]  # ONNX order: every begin, then every end
    mode: Literal["constant", "reflect", "edge"] = "constant"
    value: float = 0.0


@dataclass(frozen=True)
class TileAttrs:
    repeats: tuple[int, ...]


@dataclass(frozen=True)
class FlipAttrs:
    axes: tuple[int, ...]


# ---------------------------------------------------------------- reshape

def _check_target(target) -> None:
    if sum(d == -1 for d in target) > 1:
        raise ValueError(f"target shape {format_shape(target)} has more than one -1")
    bad = [d for d in target if isinstance(d, int) and d < -1]
    if bad:
        raise ValueError(f"target shape {format_shape(target)}: dims must be >= -1, got {bad[0]}")


def _infer_minus_one(x: TensorType, target, in_n: Dim, t_n: Dim) -> Dim:
    if t_n == 0:
        raise ValueError(f"cannot infer -1 in {format_shape(target)}: the target has a 0 dim")
    if in_n == 0:
        return 0
    q = dims.divide_exact(in_n, t_n)
    if q is None:
        raise ValueError(f"cannot reshape {x} ({in_n} elements) into {format_shape(target)}: "
                         f"{in_n} is not provably a multiple of {t_n}")
    return q


def _reshape_type(a: ReshapeAttrs, x: TensorType) -> TensorType:
    target = tuple(d if isinstance(d, int) else dims.normalize(d) for d in a.shape)
    _check_target(target)
    missing = set().union(*(dims.symbols(d) for d in target)) - set().union(
        *(dims.symbols(d) for d in x.shape))
    if missing:
        raise ValueError(f"target symbol(s) {sorted(missing)} are not dims of the input {x}")
    in_n, t_n = dims.prod(x.shape), dims.prod(d for d in target if d != -1)
    if -1 in target:
        minus_one = _infer_minus_one(x, target, in_n, t_n)
        target = tuple(minus_one if d == -1 else d for d in target)
    elif not dims.equal(in_n, t_n):
        raise ValueError(f"cannot reshape {x} ({in_n} elements) into {format_shape(target)} "
                         f"({t_n} elements)")
    return x.with_shape(target)


def _reshape_ref(a: ReshapeAttrs, x):
    """Symbolic target dims take their sizes from the bindings in scope (the interpreter
    binds the graph inputs); outside one, a lone unknown dim is left to numpy (-1)."""
    bindings = dims.current()
    if bindings is not None and all(dims.symbols(d) <= set(bindings) for d in a.shape):
        return x.reshape([dims.evaluate(d, bindings) for d in a.shape])
    unknown = [d for d in a.shape if isinstance(d, str) or d == -1]
    if len(unknown) > 1:
        raise ValueError(f"reshape to {format_shape(a.shape)} needs the sizes of its symbols; "
                         f"run it inside the interpreter (aot.ir.interpret), which binds them")
    return x.reshape([-1 if isinstance(d, str) else d for d in a.shape])


# ---------------------------------------------------- transpose, (un)squeeze

def _perm(a: TransposeAttrs, rank: int) -> tuple[int, ...]:
    if a.perm is None:
        return tuple(reversed(range(rank)))
    perm = tuple(norm_axis(p, rank) for p in a.perm)
    if sorted(perm) != list(range(rank)):
        raise ValueError(f"perm {list(a.perm)} is not a permutation of the {rank} axes")
    return perm


def _transpose_type(a: TransposeAttrs, x: TensorType) -> TensorType:
    return x.with_shape(tuple(x.shape[p] for p in _perm(a, x.rank)))


def _expand_axes(a: ExpandDimsAttrs, rank: int) -> tuple[int, ...]:
    return norm_axes(a.axes, rank + len(a.axes))


def _expand_dims_type(a: ExpandDimsAttrs, x: TensorType) -> TensorType:
    axes, dims = _expand_axes(a, x.rank), iter(x.shape)
    return x.with_shape(tuple(1 if i in axes else next(dims) for i in range(x.rank + len(axes))))


def _squeeze_axes(a: SqueezeAttrs, x: TensorType) -> tuple[int, ...]:
    if a.axes is None:
        if x.symbols:
            raise ValueError(f"squeeze without axes is ambiguous for {x}: a symbolic dim may be 1; "
                             f"give the axes")
        return tuple(i for i, d in enumerate(x.shape) if d == 1)
    axes = norm_axes(a.axes, x.rank)
    for i in axes:
        if x.shape[i] != 1:
            raise ValueError(f"cannot squeeze axis {i} of {x}: its size is {x.shape[i]}, not 1")
    return axes


def _squeeze_type(a: SqueezeAttrs, x: TensorType) -> TensorType:
    axes = _squeeze_axes(a, x)
    return x.with_shape(tuple(d for i, d in enumerate(x.shape) if i not in axes))


def _squeeze_ref(a: SqueezeAttrs, x):
    return np.squeeze(x) if a.axes is None else np.squeeze(x, axis=tuple(a.axes))


def _squeeze_lower(c, a: SqueezeAttrs, x):
    axes = _squeeze_axes(a, c.in_type(0))
    return c.R.squeeze(x, list(axes)) if axes else x


# ---------------------------------------------------------- concat, split

def _concat_type(a: ConcatAttrs, *xs: TensorType) -> TensorType:
    if not xs:
        raise ValueError("concat needs at least one input")
    dtype, rank = same_dtype(*xs), xs[0].rank
    if any(x.rank != rank for x in xs):
        raise ValueError(f"inputs must share a rank, got {', '.join(str(x) for x in xs)}")
    if rank == 0:
        raise ValueError("cannot concat scalars")
    axis = norm_axis(a.axis, rank)
    for i in range(rank):
        if i != axis and len({x.shape[i] for x in xs}) > 1:
            raise ValueError(f"dim {i} differs between inputs ({', '.join(str(x) for x in xs)}); "
                             f"only the concat axis {axis} may differ")
    out = _sum_dims(x.shape[axis] for x in xs)
    return TensorType(tuple(out if i == axis else d for i, d in enumerate(xs[0].shape)), dtype)


def _concat_lower(c, a: ConcatAttrs, *xs):
    if len(xs) == 1:
        return xs[0]
    return c.R.concat(list(xs), norm_axis(a.axis, c.in_type(0).rank))


def _split_type(a: SplitAttrs, x: TensorType) -> tuple[TensorType, ...]:
    axis = norm_axis(a.axis, x.rank)
    if not a.sizes or any(s < 0 for s in a.sizes):
        raise ValueError(f"sizes must be a non-empty list of sizes >= 0, got {list(a.sizes)}")
    dim = x.shape[axis]
    if not isinstance(dim, int):
        raise ValueError(f"cannot split symbolic dim {dim} (axis {axis}) into fixed sizes")
    if sum(a.sizes) != dim:
        raise ValueError(f"sizes {list(a.sizes)} add up to {sum(a.sizes)}, but axis {axis} has size {dim}")
    return tuple(x.with_shape(tuple(s if i == axis else d for i, d in enumerate(x.shape)))
                 for s in a.sizes)


def _split_ref(a: SplitAttrs, x):
    return tuple(np.split(x, np.cumsum(a.sizes)[:-1], axis=norm_axis(a.axis, x.ndim)))


def _split_lower(c, a: SplitAttrs, x):
    axis, bounds = norm_axis(a.axis, c.in_type(0).rank), np.cumsum((0,) + a.sizes).tolist()
    if len(a.sizes) == 1:
        return (x,)
    if min(a.sizes) == 0:  # Relax's split rejects empty parts; slice each one out instead
        return tuple(c.R.strided_slice(x, [axis], [lo], [hi]) for lo, hi in zip(bounds, bounds[1:]))
    parts = c.bb.emit(c.R.split(x, bounds[1:-1], axis))
    return tuple(c.relax.TupleGetItem(parts, i) for i in range(len(a.sizes)))


# ---------------------------------------------------------------- slice

_HUGE = 2**31 - 1  # |start|/|end| at least this means "from/to the far end" (ONNX uses INT_MAX)


def _slice_spec(a: SliceAttrs, rank: int) -> list[tuple[int, int, int, int]]:
    """(axis, start, end, step) for each sliced axis, checked."""
    n = len(a.starts)
    axes = tuple(range(n)) if a.axes is None else a.axes
    steps = (1,) * n if a.steps is None else a.steps
    if not len(a.ends) == len(axes) == len(steps) == n:
        raise ValueError(f"starts, ends, axes and steps must have one entry each per sliced axis, got "
                         f"{n}, {len(a.ends)}, {len(axes)}, {len(steps)}")
    if 0 in steps:
        raise ValueError("slice steps must not be 0")
    axes = [norm_axis(ax, rank) for ax in axes]
    if len(set(axes)) != len(axes):
        raise ValueError(f"repeated axis in {list(a.axes)}")
    return list(zip(axes, a.starts, a.ends, steps))


def _whole(start: int, end: int, step: int) -> bool:
    """Does this slice take a dim of any size whole (forward or reversed)?"""
    if step == 1:
        return (start == 0 or start <= -_HUGE) and end >= _HUGE
    if step == -1:
        return (start == -1 or start >= _HUGE) and end <= -_HUGE
    return False


def _symbolic_bounds(dim: str, axis: int, start: int, end: int, step: int) -> tuple[Dim, Dim]:
    """(begin, stop) of a forward slice of a symbolic dim, as dims. The dim is taken to be
    at least as long as the bounds reach (a slice [1:3] of N has 2 elements, for N >= 3)."""
    if step < 0:
        raise ValueError(f"cannot slice symbolic dim {dim} (axis {axis}) with start={start}, "
                         f"end={end}, step={step}: a backward slice must take the whole dim")
    def at(i: int) -> Dim:
        if i >= _HUGE:
            return dim
        if i <= -_HUGE:
            return 0
        return i if i >= 0 else dims.add(dim, i)
    return at(start), at(end)


def _slice_dim(dim: Dim, axis: int, start: int, end: int, step: int) -> Dim:
    if isinstance(dim, int):
        return len(range(*slice(start, end, step).indices(dim)))
    if _whole(start, end, step):
        return dim
    begin, stop = _symbolic_bounds(dim, axis, start, end, step)
    n = dims.floordiv(dims.add(dims.sub(stop, begin), step - 1), step)
    return max(n, 0) if isinstance(n, int) else n


def _slice_type(a: SliceAttrs, x: TensorType) -> TensorType:
    shape = list(x.shape)
    for axis, start, end, step in _slice_spec(a, x.rank):
        shape[axis] = _slice_dim(shape[axis], axis, start, end, step)
    return x.with_shape(tuple(shape))


def _slice_ref(a: SliceAttrs, x):
    index = [slice(None)] * x.ndim
    for axis, start, end, step in _slice_spec(a, x.ndim):
        index[axis] = slice(start, end, step)
    return x[tuple(index)]


def _static_bounds(dim: int, start: int, end: int, step: int) -> tuple[int, int, int]:
    """In-range (begin, end, step) for TVM, which would read an end of -1 as dim-1 and
    gives a negative size for empty slices."""
    begin, _, _ = slice(start, end, step).indices(dim)
    n = len(range(*slice(start, end, step).indices(dim)))
    if n == 0:
        return 0, 0, 1
    stop = begin + n * step
    return begin, (stop if stop >= 0 else -dim - 1), step


def _slice_lower(c, a: SliceAttrs, x):
    shape, flips, axes, bounds = c.in_type(0).shape, [], [], []
    for axis, start, end, step in _slice_spec(a, len(shape)):
        if isinstance(shape[axis], str) and _whole(start, end, step):  # kept, or reversed
            flips += [axis] if step == -1 else []
            continue
        axes.append(axis)
        if isinstance(shape[axis], int):
            bounds.append(_static_bounds(shape[axis], start, end, step))
            continue
        begin, stop = _symbolic_bounds(shape[axis], axis, start, end, step)
        bounds.append((c.shape([begin])[0], c.shape([stop])[0], step))
    if axes:
        begins, ends, steps = (list(t) for t in zip(*bounds))
        x = c.bb.emit(c.R.strided_slice(x, axes, begins, ends, steps))
    for axis in flips:
        x = c.R.flip(x, axis)
    return x


# ------------------------------------------------------------ broadcast_to

def _broadcast_to_type(a: BroadcastToAttrs, x: TensorType) -> TensorType:
    target, off = a.shape, len(a.shape) - x.rank
    if off < 0:
        raise ValueError(f"cannot broadcast {x} to the lower-rank shape {format_shape(target)}")
    for i, d in enumerate(x.shape):
        t = target[off + i]
        if d != t and d != 1:
            raise ValueError(f"cannot broadcast {x} to {format_shape(target)}: dim {i} is {d}, target {t}")
    for i, t in enumerate(target):
        if isinstance(t, str) and (i < off or x.shape[i - off] != t):
            raise ValueError(f"target symbol {t} (position {i}) must be the aligned dim of the input {x}")
        if isinstance(t, int) and t < 0:
            raise ValueError(f"target dims must be >= 0, got {t}")
    return x.with_shape(target)


def _broadcast_to_ref(a: BroadcastToAttrs, x):
    off = len(a.shape) - x.ndim
    shape = [x.shape[i - off] if isinstance(t, str) else t for i, t in enumerate(a.shape)]
    return np.broadcast_to(x, shape).copy()


# ------------------------------------------------------------ pad, tile, flip

def _pad_pairs(a: PadAttrs, x: TensorType) -> list[tuple[int, int]]:
    if len(a.pads) != 2 * x.rank:
        raise ValueError(f"pads needs 2*rank = {2 * x.rank} values (all begins, then all ends), "
                         f"got {len(a.pads)}")
    if any(p < 0 for p in a.pads):
        raise ValueError(f"pads must be >= 0, got {list(a.pads)} (crop with slice)")
    return list(zip(a.pads[:x.rank], a.pads[x.rank:]))


def _pad_dim(a: PadAttrs, i: int, d: Dim, before: int, after: int) -> Dim:
    if before == after == 0:
        return d
    if isinstance(d, str):
        if a.mode != "constant":
            raise ValueError(f"cannot {a.mode}-pad symbolic dim {d} (axis {i}): its size is not "
                             f"known to exceed the pads; only constant padding")
        return dims.add(d, before + after)
    if a.mode == "reflect" and max(before, after) > d - 1:
        raise ValueError(f"reflect pads on axis {i} must be < its size {d}, got {before}, {after}")
    if a.mode == "edge" and d == 0:
        raise ValueError(f"cannot edge-pad the empty axis {i}")
    return d + before + after


def _pad_type(a: PadAttrs, x: TensorType) -> TensorType:
    pairs = _pad_pairs(a, x)
    return x.with_shape(tuple(_pad_dim(a, i, d, *p) for i, (d, p) in enumerate(zip(x.shape, pairs))))


def _pad_ref(a: PadAttrs, x):
    pairs = list(zip(a.pads[:x.ndim], a.pads[x.ndim:]))
    if a.mode == "constant":
        return np.pad(x, pairs, mode="constant", constant_values=np.asarray(a.value).astype(x.dtype))
    return np.pad(x, pairs, mode=a.mode)


_TVM_PAD_MODE = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}


def _pad_lower(c, a: PadAttrs, x):
    pairs = _pad_pairs(a, c.in_type(0))
    if not any(a.pads):
        return x
    return c.R.nn.pad(x, [p for pair in pairs for p in pair], _TVM_PAD_MODE[a.mode], a.value)


def _tile_type(a: TileAttrs, x: TensorType) -> TensorType:
    if len(a.repeats) != x.rank:
        raise ValueError(f"repeats needs one value per axis ({x.rank}), got {len(a.repeats)}")
    if any(r < 0 for r in a.repeats):
        raise ValueError(f"repeats must be >= 0, got {list(a.repeats)}")
    return x.with_shape(tuple(dims.mul(d, r) for d, r in zip(x.shape, a.repeats)))


def _flip_type(a: FlipAttrs, x: TensorType) -> TensorType:
    norm_axes(a.axes, x.rank)
    return x


def _flip_lower(c, a: FlipAttrs, x):
    for axis in norm_axes(a.axes, c.in_type(0).rank):
        x = c.R.flip(x, axis)
    return x


# ------------------------------------------------------------ broadcast_like

def _broadcast_like_type(a, x: TensorType, like: TensorType) -> TensorType:
    """like.shape, if x broadcasts to it. An int meeting a symbol is accepted, as in
    `broadcast_shapes` (their sizes must agree at run time), unless the target dim is 1."""
    off = like.rank - x.rank
    if off < 0:
        raise ValueError(f"cannot broadcast {x} like the lower-rank {like}")
    for i, d in enumerate(x.shape):
        t = like.shape[off + i]
        if d == t or d == 1 or (isinstance(d, str) != isinstance(t, str) and t != 1):
            continue
        raise ValueError(f"cannot broadcast {x} like {like}: dim {i} is {d}, target {t}")
    return TensorType(like.shape, x.dtype)


# ------------------------------------------------------------ gradient helpers

def expand_to(b, v, like):
    """`v` broadcast to the shape of `like`: broadcast_to when every symbol of the target
    is already v's aligned dim, else broadcast_like (which can introduce a symbolic dim)."""
    target, shape = tuple(like.type.shape), tuple(v.type.shape)
    if shape == target:
        return v
    off = len(target) - len(shape)
    if all(isinstance(t, int) or (i >= off and shape[i - off] == t) for i, t in enumerate(target)):
        return b.emit("broadcast_to", v, shape=target)
    return b.emit("broadcast_like", v, like)


def fill_like(b, value: float, like):
    """A tensor of `like`'s type filled with `value` (its shape may be symbolic)."""
    return expand_to(b, b.const(value, dtype=like.type.dtype, name="fill"), like)


def _axis_slice(b, v, axis: int, start: int, end: int, step: int = 1):
    return b.emit("slice", v, starts=(start,), ends=(end,), axes=(axis,), steps=(step,))


def _axis_pad(b, v, axis: int, before: int, after: int):
    pads = [0] * (2 * v.type.rank)
    pads[axis], pads[v.type.rank + axis] = before, after
    return b.emit("pad", v, pads=tuple(pads))


def _float_vjp(rule):
    """rule(b, attrs, x, g) -> dx for a one-input, one-output op; non-float x gets no gradient."""
    def vjp(b, attrs, inputs, outputs, grads):
        x = inputs[0]
        return [rule(b, attrs, x, grads[0]) if x.type.dtype.is_float else None]

    return vjp


# ------------------------------------------------------------ gradient rules

def _transpose_vjp(b, a: TransposeAttrs, x, g):
    perm = _perm(a, x.type.rank)
    return b.emit("transpose", g, perm=tuple(int(i) for i in np.argsort(perm)))


def _expand_dims_vjp(b, a: ExpandDimsAttrs, x, g):
    return b.emit("squeeze", g, axes=_expand_axes(a, x.type.rank)) if a.axes else g


def _squeeze_vjp(b, a: SqueezeAttrs, x, g):
    axes = _squeeze_axes(a, x.type)
    return b.emit("expand_dims", g, axes=axes) if axes else g


def _concat_vjp(b, a: ConcatAttrs, inputs, outputs, grads):
    g = grads[0]
    if not g.type.dtype.is_float:
        return [None] * len(inputs)
    if len(inputs) == 1:
        return [g]
    axis = norm_axis(a.axis, g.type.rank)
    sizes = [x.type.shape[axis] for x in inputs]
    if all(isinstance(d, int) for d in sizes):
        return list(b.emit("split", g, axis=axis, sizes=tuple(sizes)))
    return [_concat_part(b, g, axis, sizes, k) for k in range(len(sizes))]


def _concat_part(b, g, axis: int, sizes, k: int):
    """Part k of g, sliced by int offsets counted from the front or from the back (a split
    needs int sizes). Parts with symbolic sizes on both sides of them have no such bounds."""
    before, after = _sum_dims(sizes[:k]), _sum_dims(sizes[k + 1:])
    start = before if isinstance(before, int) else dims.sub(0, dims.add(after, sizes[k]))
    end = dims.add(before, sizes[k]) if isinstance(before, int) and isinstance(sizes[k], int) else (
        dims.sub(0, after) if after != 0 else _HUGE)
    if not (isinstance(start, int) and isinstance(end, int)):
        raise ValueError(f"the gradient of concat along sizes {sizes} needs part {k}'s bounds "
                         f"as ints from one end")
    return _axis_slice(b, g, axis, start, end)


def _sum_dims(sizes) -> Dim:
    total: Dim = 0
    for d in sizes:
        total = dims.add(total, d)
    return total


def _split_vjp(b, a: SplitAttrs, inputs, outputs, grads):
    """Concat of the outputs' gradients; an output no gradient reached contributes zeros."""
    x = inputs[0]
    if not x.type.dtype.is_float:
        return [None]
    parts = [g if g is not None else fill_like(b, 0.0, y) for y, g in zip(outputs, grads)]
    if len(parts) == 1:
        return parts
    return [b.emit("concat", *parts, axis=norm_axis(a.axis, x.type.rank))]


def _slice_vjp(b, a: SliceAttrs, x, g):
    """g put back where the slice took it from, zeros elsewhere. Steps of 1 and -1 pad g
    (a flip first for -1); other steps spread g with one gather per axis (see `_spread`).
    An empty slice has a zero gradient."""
    shape, rank = x.type.shape, x.type.rank
    g = _unslice_symbolic(b, a, x, g)
    flips, pads, spread = [], [0] * (2 * rank), []
    for axis, start, end, step in _slice_spec(a, rank):
        dim = shape[axis]
        if isinstance(dim, str) and _whole(start, end, step):  # kept or reversed
            flips += [axis] if step == -1 else []
            continue
        if isinstance(dim, str):
            continue  # a part of a symbolic dim: `_unslice_symbolic` below
        taken = range(*slice(start, end, step).indices(dim))
        if not taken:
            return fill_like(b, 0.0, x)
        if abs(step) != 1:
            spread.append((axis, taken))
            continue
        flips += [axis] if step == -1 else []
        first = min(taken[0], taken[-1])
        pads[axis], pads[rank + axis] = first, dim - first - len(taken)
    if flips:
        g = b.emit("flip", g, axes=tuple(flips))
    if any(pads):
        g = b.emit("pad", g, pads=tuple(pads))
    for axis, taken in spread:
        g = _spread(b, g, axis, taken, shape[axis])
    return g


def _unslice_symbolic(b, a: SliceAttrs, x, g):
    """Put g back along each partly sliced symbolic axis by concatenating zeros for the parts
    left out; a zero part is shaped like x sliced as the forward slice did on the other axes
    (and whole on the axes already put back), so its size needs no int."""
    spec = _slice_spec(a, x.type.rank)
    done: set = set()
    for axis, start, end, step in spec:
        dim = x.type.shape[axis]
        if isinstance(dim, int) or _whole(start, end, step):
            continue
        if step != 1:
            raise ValueError(f"the gradient of slice [{start}:{end}:{step}] of symbolic dim {dim} "
                             f"needs step 1")
        parts = [g]
        if start != 0 and start > -_HUGE:
            parts.insert(0, _zeros_part(b, x, spec, done, axis, 0, start))
        if end < _HUGE:
            parts.append(_zeros_part(b, x, spec, done, axis, end, _HUGE))
        g = b.emit("concat", *parts, axis=axis) if len(parts) > 1 else g
        done.add(axis)
    return g


def _zeros_part(b, x, spec, done: set, axis: int, lo: int, hi: int):
    kept = [(ax, s, e, st) for ax, s, e, st in spec if ax != axis and ax not in done] + [(axis, lo, hi, 1)]
    ax, st, en, sp = zip(*kept)
    part = b.emit("slice", x, starts=st, ends=en, axes=ax, steps=sp)
    return fill_like(b, 0.0, part)


def _spread(b, g, axis: int, taken: range, dim: int):
    """Interleave zeros along `axis`: x position taken[k] gets g[k], the others a zero slot
    padded onto g's end. One gather, for any step sign, and no reshape that symbolic dims
    elsewhere could trip on."""
    index = np.full(dim, len(taken), dtype=np.int64)
    index[list(taken)] = np.arange(len(taken))
    padded = _axis_pad(b, g, axis, 0, 1)
    return b.emit("take", padded, b.const(index, name="spread_index"), axis=axis)


def _pad_vjp(b, a: PadAttrs, x, g):
    """Constant mode: the centre of g. Edge and reflect also fold each border back onto the
    elements it copies, one axis at a time (the padding is separable, so order is free)."""
    pairs = _pad_pairs(a, x.type)
    for axis, (before, after) in enumerate(pairs):
        if before or after:
            g = _unpad_axis(b, a.mode, g, axis, x.type.shape[axis], before, after)
    return g


def _unpad_axis(b, mode: str, g, axis: int, dim: int, before: int, after: int):
    stop = before + dim if isinstance(dim, int) else (-after if after else _HUGE)
    out = _axis_slice(b, g, axis, before, stop)
    if mode == "constant":
        return out
    if before:
        out = add(b, out, _fold_border(b, mode, g, axis, dim, 0, before, at_start=True))
    if after:
        out = add(b, out, _fold_border(b, mode, g, axis, dim, before + dim, after, at_start=False))
    return out


def _fold_border(b, mode: str, g, axis: int, dim: int, lo: int, n: int, at_start: bool):
    """The gradient of one border of `n` padded elements (g[lo:lo+n]) at x's size `dim`.
    edge: their sum lands on the end element. reflect: padded element p copies x[before - p]
    at the start and x[dim - 2 - q] at the end, so the border reversed lands one step in."""
    if mode == "edge":
        total = b.emit("sum", _axis_slice(b, g, axis, lo, lo + n), axes=(axis,), keepdims=True)
        return _axis_pad(b, total, axis, 0, dim - 1) if at_start else _axis_pad(b, total, axis, dim - 1, 0)
    backwards = _axis_slice(b, g, axis, lo + n - 1, lo - 1 if lo else -_HUGE, -1)
    return _axis_pad(b, backwards, axis, 1, dim - 1 - n) if at_start else _axis_pad(b, backwards, axis, dim - 1 - n, 1)


def _tile_vjp(b, a: TileAttrs, x, g):
    """Split each tiled axis into (repeat, dim) and sum the repeats."""
    if 0 in a.repeats:
        return fill_like(b, 0.0, x)
    split, repeat_axes = [], []
    for d, r in zip(x.type.shape, a.repeats):
        if r != 1:
            repeat_axes.append(len(split))
            split.append(r)
        split.append(d)
    if not repeat_axes:
        return g
    return b.emit("sum", b.emit("reshape", g, shape=tuple(split)), axes=tuple(repeat_axes))


# ------------------------------------------------------------ registration

def _reshape_lower(c, a: ReshapeAttrs, x):
    if 0 in c.out_type(0).shape:  # Relax's reshape reads a 0 as "keep this dim"; topi's does not
        return c.emit_te(c.topi.reshape, x, c.out_shape())
    return c.R.reshape(x, c.out_shape())


register("reshape", precision="follow", attrs=ReshapeAttrs, infer=_reshape_type, num_inputs=1, reference=_reshape_ref,
         lower=_reshape_lower, vjp=_float_vjp(lambda b, a, x, g: b.emit("reshape", g, shape=x.type.shape)))
register("transpose", precision="follow", attrs=TransposeAttrs, infer=_transpose_type, num_inputs=1,
         reference=lambda a, x: np.transpose(x, _perm(a, x.ndim)),
         lower=lambda c, a, x: c.R.permute_dims(x, list(_perm(a, c.in_type(0).rank))),
         vjp=_float_vjp(_transpose_vjp))
register("expand_dims", precision="follow", attrs=ExpandDimsAttrs, infer=_expand_dims_type, num_inputs=1,
         reference=lambda a, x: np.expand_dims(x, _expand_axes(a, x.ndim)),
         lower=lambda c, a, x: c.R.expand_dims(x, list(_expand_axes(a, c.in_type(0).rank))) if a.axes else x,
         vjp=_float_vjp(_expand_dims_vjp))
register("squeeze", precision="follow", attrs=SqueezeAttrs, infer=_squeeze_type, num_inputs=1, reference=_squeeze_ref,
         lower=_squeeze_lower, vjp=_float_vjp(_squeeze_vjp))
register("concat", precision="follow", attrs=ConcatAttrs, infer=_concat_type, num_inputs=None,
         reference=lambda a, *xs: np.concatenate(xs, axis=norm_axis(a.axis, xs[0].ndim)),
         lower=_concat_lower, vjp=_concat_vjp)
register("split", precision="follow", attrs=SplitAttrs, infer=_split_type, num_inputs=1, num_outputs=None,
         reference=_split_ref, lower=_split_lower, vjp=_split_vjp)
register("slice", precision="follow", attrs=SliceAttrs, infer=_slice_type, num_inputs=1, reference=_slice_ref,
         lower=_slice_lower, vjp=_float_vjp(_slice_vjp))
register("broadcast_to", precision="follow", attrs=BroadcastToAttrs, infer=_broadcast_to_type, num_inputs=1,
         reference=_broadcast_to_ref, lower=lambda c, a, x: c.R.broadcast_to(x, c.out_shape()),
         vjp=_float_vjp(lambda b, a, x, g: g))  # the walker sums g down to x's shape
register("broadcast_like", infer=_broadcast_like_type, num_inputs=2,
         reference=lambda a, x, like: np.broadcast_to(x, like.shape).copy(),
         lower=lambda c, a, x, like: c.R.broadcast_to(x, c.out_shape()),  # reads no data of `like`
         vjp=lambda b, a, inputs, outputs, grads: [grads[0] if inputs[0].type.dtype.is_float else None, None])
register("pad", precision="follow", attrs=PadAttrs, infer=_pad_type, num_inputs=1, reference=_pad_ref, lower=_pad_lower,
         vjp=_float_vjp(_pad_vjp))
register("tile", precision="follow", attrs=TileAttrs, infer=_tile_type, num_inputs=1,
         reference=lambda a, x: np.tile(x, a.repeats), lower=lambda c, a, x: c.R.tile(x, list(a.repeats)),
         vjp=_float_vjp(_tile_vjp))
register("flip", precision="follow", attrs=FlipAttrs, infer=_flip_type, num_inputs=1,
         reference=lambda a, x: np.flip(x, norm_axes(a.axes, x.ndim)).copy(), lower=_flip_lower,
         vjp=_float_vjp(lambda b, a, x, g: b.emit("flip", g, axes=a.axes)))
