"""NN op cases: matmul shapes (1-D, batched, broadcast, integer), convolutions in both
layouts with strides, dilation, asymmetric padding, groups and depthwise, transposed
convolutions with stride 2 and output_padding, pools with padding and ceil_mode, and
a symbolic batch for each family; the gradient helper ops (conv2d_backward_weight,
max_pool2d_grad) over the same geometry. Shapes are tiny and odd on purpose. Every float
case is also a finite-difference check of the op's VJP (tests/ops/test_gradients.py)."""

from .harness import OpCase

F32 = "float32"
TOL = dict(rtol=1e-4, atol=1e-4)


def _nchw(shape):
    n, h, w, c = shape
    return (n, c, h, w)


def _oihw(shape):
    kh, kw, i, o = shape
    return (o, i, kh, kw)


def _iohw(shape):
    kh, kw, o, i = shape
    return (i, o, kh, kw)


def conv(id, x, w, layouts=("NHWC", "NCHW"), bind=None, **attrs):
    """One case per layout; shapes are written NHWC/HWIO and converted for NCHW."""
    out = []
    for lay in layouts:
        xs, ws = (x, w) if lay == "NHWC" else (_nchw(x), _oihw(w))
        out.append(OpCase("conv2d", [(xs, F32), (ws, F32)], dict(attrs, layout=lay),
                          id=f"{id}-{lay}", bind=bind or {}, **TOL))
    return out


def tconv(id, x, w, layouts=("NHWC", "NCHW"), bind=None, **attrs):
    """Shapes written NHWC with kernels (kh, kw, out/groups, in); converted for NCHW."""
    out = []
    for lay in layouts:
        xs, ws = (x, w) if lay == "NHWC" else (_nchw(x), _iohw(w))
        out.append(OpCase("conv2d_transpose", [(xs, F32), (ws, F32)], dict(attrs, layout=lay),
                          id=f"{id}-{lay}", bind=bind or {}, **TOL))
    return out


def pool(op, id, x, layouts=("NHWC", "NCHW"), bind=None, dtype=F32, gen=None, grad=True, **attrs):
    out = []
    for lay in layouts:
        xs = x if lay == "NHWC" else _nchw(x)
        out.append(OpCase(op, [(xs, dtype)], dict(attrs, layout=lay), id=f"{id}-{lay}",
                          bind=bind or {}, gen=gen, grad=grad, **TOL))
    return out


def data_pair(op, id, x, gy, bind=None, gen=None, **attrs):
    """Ops taking (data, output gradient), both data-shaped: written NHWC, converted for NCHW."""
    out = []
    for lay in ("NHWC", "NCHW"):
        shapes = (x, gy) if lay == "NHWC" else (_nchw(x), _nchw(gy))
        out.append(OpCase(op, [(sh, F32) for sh in shapes], dict(attrs, layout=lay), id=f"{id}-{lay}",
                          bind=bind or {}, gen=gen, **TOL))
    return out


def _binary(rng, shape, dtype):
    """0s and 1s: pooling windows full of ties."""
    return rng.integers(0, 2, size=shape).astype(dtype.numpy)


CASES = [
    OpCase("matmul", [((5,), F32), ((5,), F32)], id="1d-1d", **TOL),
    OpCase("matmul", [((4,), F32), ((4, 3), F32)], id="1d-2d", **TOL),
    OpCase("matmul", [((3, 4), F32), ((4,), F32)], id="2d-1d", **TOL),
    OpCase("matmul", [((3, 5), F32), ((5, 2), F32)], id="2d", **TOL),
    OpCase("matmul", [(("N", 3, 4), F32), ((4, 5), F32)], bind={"N": 2}, id="NTD-DK", **TOL),
    OpCase("matmul", [((2, 3, 4, 5), F32), ((2, 3, 5, 4), F32)], id="BHTD-BHDT", **TOL),
    OpCase("matmul", [((2, 1, 3, 4), F32), ((3, 4, 2), F32)], id="broadcast", **TOL),
    OpCase("matmul", [((2, 3, 3, 4), F32), ((1, 4, 2), F32)], id="rhs-broadcast", **TOL),
    OpCase("matmul", [((2, 3, 4), F32), ((4, 5), F32)], id="static-batch-2d", **TOL),
    OpCase("matmul", [((2, 3, 4), F32), ((4,), F32)], id="3d-1d", **TOL),
    OpCase("matmul", [((4,), F32), (("N", 4, 3), F32)], bind={"N": 2}, id="1d-N3d", **TOL),
    # Relax cannot legalize a batch symbol meeting an int (the type rule takes the int); the
    # interpreter can, so the type rule and the gradient rule are still checked
    OpCase("matmul", [(("N", 3, 4), F32), ((2, 4, 5), F32)], bind={"N": 2}, id="symbol-meets-int",
           compile=False, **TOL),
    OpCase("matmul", [((3, 4), "int32"), ((2, 4, 3), "int32")], id="int32"),
    OpCase("matmul", [((2, 3), "int8"), ((3, 2), "int8")], id="int8"),
    OpCase("matmul", [((2, 3), "float64"), ((3,), "float64")], id="f64"),
]

CASES += [
    *conv("basic", (1, 5, 5, 3), (3, 3, 3, 4)),
    *conv("stride-pad", (2, 7, 6, 3), (3, 2, 3, 4), strides=(2, 3), padding=(1, 0, 2, 1)),
    *conv("dilation", (1, 8, 7, 2), (3, 2, 2, 3), dilation=(2, 3), padding=(2, 1, 0, 3)),
    *conv("groups", (1, 6, 5, 4), (3, 3, 2, 6), groups=2, padding=(1, 1, 1, 1)),
    *conv("depthwise", (2, 7, 7, 3), (3, 3, 1, 6), groups=3, strides=(2, 2), padding=(0, 1, 1, 0)),
    *conv("1x1", (1, 3, 4, 5), (1, 1, 5, 2)),
    *conv("wide-pad", (1, 4, 5, 2), (2, 2, 2, 3), strides=(2, 2), padding=(3, 2, 2, 3)),
    *conv("symbolic", ("N", 5, 6, 2), (2, 3, 2, 3), bind={"N": 2}, strides=(2, 1), padding=(1, 1, 0, 0)),
    OpCase("conv1d", [((2, 9, 3), F32), ((3, 3, 4), F32)], {"strides": (2,), "padding": (1, 2)},
           id="NWC", **TOL),
    OpCase("conv1d", [(("N", 4, 7), F32), ((6, 2, 3), F32)],
           {"layout": "NCW", "dilation": (2,), "groups": 2, "padding": (0, 1)},
           bind={"N": 2}, id="NCW-grouped-symbolic", **TOL),
]

CASES += [
    *tconv("basic", (1, 3, 4, 2), (3, 3, 3, 2)),
    *tconv("stride2-outpad", (2, 3, 4, 3), (3, 3, 2, 3), strides=(2, 2), padding=(1, 1, 1, 1),
           output_padding=(1, 1)),
    *tconv("asym", (1, 4, 3, 2), (2, 3, 3, 2), strides=(2, 3), padding=(0, 1, 1, 0),
           output_padding=(1, 2)),
    *tconv("dilation", (1, 3, 3, 2), (2, 3, 2, 2), dilation=(2, 1), strides=(1, 2)),
    # output_padding >= stride (allowed below the dilation): Relax wants it < stride
    *tconv("dilation-outpad", (1, 3, 3, 2), (2, 2, 2, 2), dilation=(3, 3), strides=(1, 2),
           padding=(1, 0, 1, 0), output_padding=(2, 1)),
    *tconv("groups", (1, 3, 3, 4), (3, 2, 3, 4), groups=2, strides=(2, 1), padding=(1, 0, 0, 1)),
    *tconv("symbolic", ("N", 3, 2, 2), (2, 2, 3, 2), bind={"N": 2}, strides=(2, 2)),
]

for _op in ("max_pool2d", "avg_pool2d"):
    CASES += [
        *pool(_op, "2x2", (1, 4, 6, 3), pool_size=(2, 2), strides=(2, 2)),
        *pool(_op, "pad", (2, 5, 7, 2), pool_size=(3, 3), strides=(2, 2), padding=(1, 1, 1, 1)),
        *pool(_op, "asym-pad", (1, 6, 5, 2), pool_size=(3, 2), strides=(1, 2), padding=(0, 1, 2, 0)),
        *pool(_op, "ceil", (1, 7, 6, 2), pool_size=(3, 2), strides=(2, 2), padding=(1, 0, 1, 1),
              ceil_mode=True),
        *pool(_op, "ceil-dropped", (1, 5, 5, 1), pool_size=(2, 2), strides=(2, 2), padding=(1, 1, 1, 1),
              ceil_mode=True),
        # the last window reaches past the input and its end padding
        *pool(_op, "ceil-overshoot", (1, 6, 6, 2), pool_size=(3, 3), strides=(2, 3), padding=(0, 1, 0, 1),
              ceil_mode=True),
        *pool(_op, "dilation", (1, 7, 8, 2), pool_size=(2, 3), dilation=(2, 2), strides=(1, 2),
              padding=(1, 0, 0, 2)),
        *pool(_op, "symbolic", ("N", 5, 5, 3), pool_size=(2, 2), bind={"N": 2}),
    ]
CASES += [
    *pool("avg_pool2d", "include-pad", (1, 5, 7, 2), pool_size=(3, 3), strides=(2, 2),
          padding=(1, 1, 1, 1), count_include_pad=True),
    *pool("avg_pool2d", "include-pad-ceil", (1, 6, 6, 2), pool_size=(3, 3), strides=(2, 2),
          padding=(1, 1, 1, 1), count_include_pad=True, ceil_mode=True),
    *pool("max_pool2d", "int8", (1, 5, 5, 2), dtype="int8", layouts=("NHWC",), pool_size=(3, 3),
          strides=(2, 2), padding=(1, 1, 1, 1)),
]

for _op in ("softmax", "log_softmax"):
    CASES += [
        OpCase(_op, [((3, 7), F32)], id="last", **TOL),
        OpCase(_op, [((2, 5, 3), F32)], {"axis": 1}, id="axis1", **TOL),
        OpCase(_op, [(("N", 4), F32)], {"axis": 0}, bind={"N": 3}, id="symbolic-axis0", **TOL),
        OpCase(_op, [((2, 6), F32)], id="large", gen=lambda rng, s, d: (rng.standard_normal(s) * 50
                                                                       ).astype(d.numpy), **TOL),
    ]

# Ties: the gradient goes to the first maximum (checked on max_pool2d_grad below); finite
# differences across a tie are meaningless, so no gradient check here.
CASES += pool("max_pool2d", "ties", (1, 4, 5, 2), pool_size=(2, 2), padding=(1, 1, 1, 1), gen=_binary,
              grad=False)

# The gradient helper ops, over the geometry their ops' cases use (gy: the conv's or pool's output).
CASES += [
    *data_pair("conv2d_backward_weight", "basic", (1, 5, 5, 3), (1, 3, 3, 4), kernel_size=(3, 3)),
    *data_pair("conv2d_backward_weight", "stride-pad", (2, 7, 6, 3), (2, 4, 2, 4), kernel_size=(3, 2),
               strides=(2, 3), padding=(1, 0, 2, 1)),
    *data_pair("conv2d_backward_weight", "dilation-groups", (1, 8, 7, 4), (1, 6, 8, 6), kernel_size=(3, 2),
               dilation=(2, 3), padding=(2, 1, 0, 3), groups=2),
    *data_pair("conv2d_backward_weight", "depthwise-symbolic", ("N", 7, 7, 3), ("N", 3, 3, 6),
               kernel_size=(3, 3), strides=(2, 2), padding=(0, 1, 1, 0), groups=3, bind={"N": 2}),
    # a shorter output gradient than the conv's output (4x4): the rest counts as zeros
    *data_pair("conv2d_backward_weight", "short-grad", (1, 5, 5, 2), (1, 3, 4, 3), kernel_size=(2, 2)),
    *data_pair("max_pool2d_grad", "pad", (2, 5, 7, 2), (2, 3, 4, 2), pool_size=(3, 3), strides=(2, 2),
               padding=(1, 1, 1, 1)),
    *data_pair("max_pool2d_grad", "ceil-overshoot", (1, 6, 6, 2), (1, 3, 3, 2), pool_size=(3, 3),
               strides=(2, 3), padding=(0, 1, 0, 1), ceil_mode=True),
    *data_pair("max_pool2d_grad", "dilation", (1, 7, 8, 2), (1, 6, 3, 2), pool_size=(2, 3),
               dilation=(2, 2), strides=(1, 2), padding=(1, 0, 0, 2)),
    *data_pair("max_pool2d_grad", "ties", (1, 4, 5, 2), (1, 5, 6, 2), pool_size=(2, 2),
               padding=(1, 1, 1, 1), gen=_binary),
    *data_pair("max_pool2d_grad", "symbolic", ("N", 5, 5, 3), ("N", 4, 4, 3), pool_size=(2, 2),
               bind={"N": 2}),
]
