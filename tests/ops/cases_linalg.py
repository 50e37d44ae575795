"""einsum and trilu cases: ONNX's einsum examples (transpose, sum, batch diagonal, inner
product, batch matmul, scalar), implicit outputs, ellipsis broadcasting with size-1 dims,
three operands, integers, a symbolic batch; trilu on square, wide and tall matrices with
k beyond the matrix either way."""
from .harness import OpCase

F32 = "float32"
TOL = dict(rtol=1e-4, atol=1e-4)


def ein(id, eq, *shapes, dtype=F32, grad=True, bind=None):
    return OpCase("einsum", [(s, dtype) for s in shapes], dict(equation=eq), id=id, grad=grad,
                  bind=bind or {}, **TOL)


CASES = [
    ein("transpose", "ij->ji", (3, 4)),
    ein("sum", "ij->i", (3, 4)),
    ein("batch-diagonal", "...ii ->...i", (3, 5, 5), grad=False),  # a diagonal: no gradient rule
    ein("inner", "i,i", (5,), (5,)),
    ein("batch-matmul", "bij, bjk -> bik", (5, 2, 3), (5, 3, 4)),
    ein("scalar", "->", ()),
    ein("implicit", "ba,cb", (3, 2), (4, 3)),
    ein("outer", "i,j->ij", (3,), (4,)),
    ein("sum-all", "ijk->", (2, 3, 4)),
    ein("ellipsis-bcast", "...ij,...jk->...ik", (2, 1, 3, 4), (5, 4, 2)),
    ein("three", "ij,jk,kl->il", (2, 3), (3, 4), (4, 5)),
    ein("attention", "bhqd,bhkd->bhqk", (2, 2, 3, 4), (2, 2, 5, 4)),
    ein("int", "ij,jk->ik", (2, 3), (3, 4), dtype="int32"),
    ein("sym", "nij,jk->nik", ("N", 2, 3), (3, 4), bind={"N": 2}),
]
for _upper in (True, False):
    _name = "triu" if _upper else "tril"
    for _id, _shape, _k in (("square", (4, 4), 0), ("pos", (4, 5), 1), ("neg", (5, 4), -1),
                            ("out-pos", (3, 4), 6), ("out-neg", (3, 4), -7), ("batch", (2, 3, 4), 0),
                            ("sym", ("N", 3, 3), 1)):
        CASES.append(OpCase("trilu", [(_shape, F32)], dict(upper=_upper, k=_k), id=f"{_name}-{_id}",
                            bind={"N": 2}))
    CASES.append(OpCase("trilu", [((3, 4), "int64")], dict(upper=_upper, k=-1), id=f"{_name}-int"))
