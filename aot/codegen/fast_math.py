"""Vectorizable exp, tanh, sigmoid and softmax for CPU targets.

LLVM lowers TVM's `exp` (and `tanh`/`sigmoid`, which TVM writes with `exp`) to
`llvm.exp.v16f32`, which x86 codegen without a vector math library scalarizes into 16
libm `expf` calls: the LSTM's gate kernels (five exps per unit and step) spent ~12 of
their ~19 us per step there, more than the recurrent matmul. TOPI's `fast_exp` (range
reduction + a degree-7 polynomial, exp(x) = 2^n * p(r)) and `fast_tanh` (Eigen's rational
approximation) are plain vector arithmetic: a few ulp from libm, well inside the 1e-5
tolerances the interpreter is held to, and what ONNX Runtime's MLAS does too. Saturation
matches: exp(-inf) = 0, exp(+inf) = inf, sigmoid(+-inf) = 1 / 0, tanh(+-inf) = +-1; a NaN
stays NaN in exp / tanh / sigmoid (a select on the input; softmax's row of a NaN may not).

`fast_math_pass()` rewrites the float32 Relax calls before legalization, so the fast
versions are fused and scheduled like the ops they replace; other dtypes keep TVM's.
"""
from __future__ import annotations

from .tvm import tvm


def _sigmoid(x):
    from tvm import topi

    one = tvm.tirx.const(1.0, x.dtype)
    return topi.divide(one, topi.add(one, topi.fast_exp(topi.negative(x))))


def _nan_kept(fn):
    """fn(x), but NaN where x is NaN: the approximations clamp their input (min/max drop a
    NaN), which would turn a NaN into a finite number, silently."""
    def compute(x):
        from tvm import te

        y = fn(x)
        return te.compute(x.shape, lambda *i: tvm.tirx.Select(tvm.tirx.isnan(x(*i)), x(*i),
                                                               y(*i)), name="nan_kept")
    return compute


def _rules():
    """{Relax op name: (TE compute, name hint)}; softmax takes its axis attribute."""
    from tvm import topi

    return {
        "relax.exp": (_nan_kept(topi.fast_exp), "exp"),
        "relax.tanh": (_nan_kept(topi.fast_tanh), "tanh"),
        "relax.sigmoid": (_nan_kept(_sigmoid), "sigmoid"),
        "relax.nn.softmax": (topi.nn.fast_softmax, "softmax"),
    }


def fast_math_pass():
    """A module pass replacing float32 exp/tanh/sigmoid/softmax calls with TE computes of
    the vectorizable approximations (see the module docstring)."""
    from tvm import relax
    from tvm.relax import PyExprMutator, expr_functor

    rules = _rules()

    @expr_functor.mutator
    class FastMath(PyExprMutator):
        def visit_call_(self, call):
            call = super().visit_call_(call)
            rule = rules.get(getattr(call.op, "name", None))
            if rule is None or call.args[0].ty.dtype != "float32":
                return call
            fn, hint = rule
            extra = [call.attrs.axis] if hint == "softmax" else []
            return self.builder_.call_te(fn, call.args[0], *extra, primfunc_name_hint=hint)

    @tvm.transform.module_pass(opt_level=0, name="AotFastMath")
    def apply(mod, _ctx):
        mutator = FastMath(mod)
        for gv, func in mod.functions_items():
            if isinstance(func, relax.Function):
                mutator.builder_.update_func(gv, mutator.visit_expr(func))
        return mutator.builder_.get()

    return apply
