"""Test cases for the shape family (aot/ops/shape.py)."""
from .harness import OpCase

F32, F64, I32, I64, BOOL = "float32", "float64", "int32", "int64", "bool"
BIG = 2**62

CASES = [
    # reshape
    OpCase("reshape", [((2, 3, 4), F32)], {"shape": (4, 6)}, id="static"),
    OpCase("reshape", [((2, 3, 4), I32)], {"shape": (-1, 2)}, id="minus-one-int"),
    OpCase("reshape", [((1, 5, 1), F32)], {"shape": (5,)}, id="size1"),
    OpCase("reshape", [((), F32)], {"shape": (1, 1)}, id="scalar"),
    OpCase("reshape", [(("N", 4, 4, 8), F32)], {"shape": ("N", -1)}, bind={"N": 3}, id="symbolic-flatten"),
    OpCase("reshape", [(("N", 6), F32)], {"shape": ("N", 2, 3)}, bind={"N": 3}, id="symbolic-split"),
    OpCase("reshape", [(("N", 2, 3), F32)], {"shape": (-1, 6)}, bind={"N": 3}, id="symbolic-minus-one"),
    OpCase("reshape", [((4, "N"), I64)], {"shape": ("N", 2, 2)}, bind={"N": 3}, id="symbolic-moves"),
    OpCase("reshape", [((2, 0, 3), F32)], {"shape": (0, 5)}, id="empty"),
    OpCase("reshape", [(("N", 0, 3), F32)], {"shape": ("N", 0)}, bind={"N": 3}, id="symbolic-empty"),
    # expression dims (aot.ir.dims): the -1 and the symbols read from the bindings
    OpCase("reshape", [(("N", "S", 16), F32)], {"shape": ("S", -1, 8)}, bind={"N": 2, "S": 3},
           id="expr-heads"),
    OpCase("reshape", [(("N", "S", 4), F32)], {"shape": (-1, 4)}, bind={"N": 2, "S": 3}, id="expr-flatten"),
    OpCase("reshape", [(("N", "S", 4), F32)], {"shape": ("N*S", 2, 2)}, bind={"N": 2, "S": 3},
           id="expr-target"),
    # transpose
    OpCase("transpose", [((2, 3, 4), F32)], id="reverse"),
    OpCase("transpose", [((2, 3, 4), I32)], {"perm": (1, -1, 0)}, id="perm-neg"),
    OpCase("transpose", [(("N", 3, 1), F32)], {"perm": (2, 0, 1)}, bind={"N": 3}, id="symbolic"),
    # expand_dims
    OpCase("expand_dims", [((3, 4), F32)], {"axes": (0, 3)}, id="out-positions"),
    OpCase("expand_dims", [((3,), I32)], {"axes": (-1, 0)}, id="neg"),
    OpCase("expand_dims", [((), F32)], {"axes": (0,)}, id="scalar"),
    OpCase("expand_dims", [(("N", 4), F32)], {"axes": (1,)}, bind={"N": 3}, id="symbolic"),
    # squeeze
    OpCase("squeeze", [((1, 3, 1, 2), F32)], id="all"),
    OpCase("squeeze", [((1, 3, 1, 2), I64)], {"axes": (-2,)}, id="neg-axis"),
    OpCase("squeeze", [(("N", 1, 5), F32)], {"axes": (1,)}, bind={"N": 3}, id="symbolic"),
    OpCase("squeeze", [((1,), F32)], id="to-scalar"),
    # concat
    OpCase("concat", [((2, 3), F32), ((4, 3), F32)], id="axis0"),
    OpCase("concat", [((2, 3), I32), ((2, 1), I32), ((2, 5), I32)], {"axis": -1}, id="three-neg"),
    OpCase("concat", [(("N", 2), F32), (("N", 3), F32)], {"axis": 1}, bind={"N": 3}, id="symbolic"),
    OpCase("concat", [((1, 3), F32), (("N", 3), F32), ((2, 3), F32)], bind={"N": 3}, id="expr-sum"),
    OpCase("concat", [((2, 0), F32), ((2, 3), F32)], {"axis": 1}, id="empty-part"),
    OpCase("concat", [((3, 2), BOOL)], id="single-bool"),
    # split
    OpCase("split", [((7, 3), F32)], {"sizes": (2, 5)}, id="axis0"),
    OpCase("split", [((2, 9), I32)], {"axis": -1, "sizes": (3, 3, 3)}, id="three-neg"),
    OpCase("split", [(("N", 5), F32)], {"axis": 1, "sizes": (1, 0, 4)}, bind={"N": 3}, id="symbolic-empty"),
    OpCase("split", [((4,), F32)], {"sizes": (4,)}, id="one"),
    # slice
    OpCase("slice", [((10,), F32)], {"starts": (2,), "ends": (7,)}, id="simple"),
    OpCase("slice", [((10, 4), F32)], {"starts": (-1,), "ends": (-BIG,), "steps": (-1,)}, id="reverse"),
    OpCase("slice", [((10, 4), I32)], {"starts": (8, 1), "ends": (1, BIG), "axes": (0, -1), "steps": (-3, 2)},
           id="neg-step-axes"),
    OpCase("slice", [((5, 6), F32)], {"starts": (-100,), "ends": (100,), "axes": (1,), "steps": (4,)},
           id="clamped"),
    OpCase("slice", [((5, 6), F32)], {"starts": (4,), "ends": (2,), "axes": (0,)}, id="empty"),
    OpCase("slice", [((5, 6), F32)], {"starts": (1, 0), "ends": (3, 6), "steps": (-1, 1)}, id="empty-neg-step"),
    OpCase("slice", [((5, 6), F32)], {"starts": (BIG,), "ends": (-2,), "axes": (1,), "steps": (-2,)},
           id="neg-step-huge-start"),
    OpCase("slice", [(("N", 6), F32)], {"starts": (1,), "ends": (-1,), "axes": (1,)}, bind={"N": 3},
           id="symbolic-batch"),
    OpCase("slice", [(("N", 6), F32)], {"starts": (-1, 0), "ends": (-BIG, 3), "steps": (-1, 1)},
           bind={"N": 3}, id="symbolic-reversed"),
    OpCase("slice", [((10, 4), F32)], {"starts": (8, 1), "ends": (1, BIG), "axes": (0, -1), "steps": (-3, 2)},
           id="neg-step-axes-float"),
    OpCase("slice", [(("N", 7), F32)], {"starts": (1,), "ends": (BIG,), "axes": (1,), "steps": (2,)},
           bind={"N": 3}, id="symbolic-step2"),
    OpCase("slice", [((6, 5), F32)], {"starts": (-2, 4), "ends": (-BIG, 0), "steps": (-1, -1)}, id="neg-one-steps"),
    OpCase("slice", [(("N", 3), F32)], {"starts": (1,), "ends": (-1,)}, bind={"N": 5}, id="expr-inner"),
    OpCase("slice", [(("N", 3), F32)], {"starts": (-2,), "ends": (BIG,)}, bind={"N": 5}, id="expr-last-two"),
    # broadcast_to
    OpCase("broadcast_to", [((3, 1), F32)], {"shape": (2, 3, 4)}, id="rank-up"),
    OpCase("broadcast_to", [((1,), I32)], {"shape": (5,)}, id="int"),
    OpCase("broadcast_to", [(("N", 1), F32)], {"shape": ("N", 6)}, bind={"N": 3}, id="symbolic"),
    OpCase("broadcast_to", [(("N", 1), F32)], {"shape": (2, "N", 3)}, bind={"N": 3}, id="symbolic-offset"),
    # broadcast_like
    OpCase("broadcast_like", [((3, 1), F32), ((2, 3, 4), F32)], id="rank-up"),
    OpCase("broadcast_like", [((1, 4), F32), (("N", 4), I64)], bind={"N": 3}, id="symbolic-int-like"),
    OpCase("broadcast_like", [((), F32), (("N", 2, 3), F32)], bind={"N": 3}, id="scalar"),
    OpCase("broadcast_like", [((3, 5), F32), (("N", 5), F32)], bind={"N": 3}, id="int-meets-symbol"),
    OpCase("broadcast_like", [((2,), I32), ((3, 2), BOOL)], id="int"),
    # pad
    OpCase("pad", [((2, 3), F32)], {"pads": (1, 0, 2, 1)}, id="constant"),
    OpCase("pad", [((2, 3), I32)], {"pads": (0, 2, 1, 0), "value": -2.7}, id="int-value"),
    OpCase("pad", [((3, 4), F32)], {"pads": (2, 1, 0, 3), "mode": "reflect"}, id="reflect"),
    OpCase("pad", [((2, 3), F64)], {"pads": (1, 1, 2, 2), "mode": "edge"}, id="edge"),
    OpCase("pad", [(("N", 3), F32)], {"pads": (0, 1, 0, 2), "value": 0.5}, bind={"N": 3}, id="symbolic"),
    OpCase("pad", [((4, 5), F32)], {"pads": (3, 2, 1, 4), "mode": "reflect"}, id="reflect-both-sides"),
    OpCase("pad", [((1, 3), F32)], {"pads": (2, 3, 1, 4), "mode": "edge"}, id="edge-size1"),
    OpCase("pad", [(("N", 4), F32)], {"pads": (0, 1, 0, 3), "mode": "reflect"}, bind={"N": 3},
           id="reflect-symbolic"),
    OpCase("pad", [(("N", 3), F32)], {"pads": (0, 2, 0, 1), "mode": "edge"}, bind={"N": 3}, id="edge-symbolic"),
    OpCase("pad", [(("N", 3), F32)], {"pads": (1, 0, 2, 1)}, bind={"N": 3}, id="expr-constant"),
    # tile
    OpCase("tile", [((2, 3), F32)], {"repeats": (2, 3)}, id="2d"),
    OpCase("tile", [((1, 3, 1), I32)], {"repeats": (3, 1, 2)}, id="size1"),
    OpCase("tile", [(("N", 2), F32)], {"repeats": (1, 3)}, bind={"N": 3}, id="symbolic"),
    OpCase("tile", [(("N", 2), F32)], {"repeats": (2, 1)}, bind={"N": 3}, id="expr-tiled"),
    OpCase("tile", [((1, 3, 2), F32)], {"repeats": (3, 1, 2)}, id="3d-float"),
    OpCase("tile", [((2, "N", "T"), F32)], {"repeats": (2, 1, 1)}, bind={"N": 3, "T": 2}, id="two-symbols"),
    OpCase("tile", [((2, 3), F32)], {"repeats": (0, 2)}, id="zero-repeats"),
    # flip
    OpCase("flip", [((3, 4), F32)], {"axes": (0,)}, id="axis0"),
    OpCase("flip", [((2, 3, 4), I64)], {"axes": (-1, 0)}, id="two-neg"),
    OpCase("flip", [(("N", 5), F32)], {"axes": (0, 1)}, bind={"N": 3}, id="symbolic"),
]
