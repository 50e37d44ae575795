"""`Model.quantize(mode, ...)`: post-training quantization of a built Keras-style model.

Named as Keras 3's `Model.quantize(mode)`; the modes are the compiler's: "int8" (static,
calibrated: needs `calibration`), "int8-dynamic" (int8 weights, matmul inputs quantized at run
time), "fp16" and "bf16" (weights and most compute in 16 bits). Quantization is a pass over
the model's graph (aot.passes.quantize / cast_precision), never a change to its layers: the
float weights stay, and `predict` runs the quantized compiled artifact, re-quantized from the
same settings whenever the weights change.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional

MODES = ("int8", "int8-dynamic", "fp16", "bf16")
METHODS = ("minmax", "percentile", "entropy")


@dataclass(frozen=True, eq=False)
class QuantizeSpec:
    """What `Model.quantize` was asked, kept to quantize again after the weights change."""

    mode: str
    calibration: Any = None
    method: str = "minmax"
    max_accuracy_drop: Optional[float] = None
    validation: Any = None


def check_spec(model, spec: QuantizeSpec) -> None:
    """Clear errors, Keras' words where it has them, before any work is done."""
    if spec.mode not in MODES:
        raise ValueError(f"Invalid quantization mode. Expected one of {MODES}. "
                         f"Received: mode={spec.mode!r}")
    try:
        model._ensure_built()
    except ValueError as e:
        raise ValueError(f"Cannot quantize a model that isn't yet built: {e}") from None
    if spec.method not in METHODS:
        raise ValueError(f"Invalid calibration method. Expected one of {METHODS}. "
                         f"Received: method={spec.method!r}")
    if spec.mode == "int8" and spec.calibration is None:
        raise ValueError("quantize('int8') needs calibration= data: a few hundred typical "
                         "inputs (an array, a list for several inputs, or a dict by input name)")
    if spec.mode != "int8" and (spec.calibration is not None or spec.validation is not None
                                or spec.max_accuracy_drop is not None):
        raise ValueError(f"calibration=, validation= and max_accuracy_drop= apply to mode "
                         f"'int8', not {spec.mode!r}")
    if spec.validation is not None and not (isinstance(spec.validation, (tuple, list))
                                            and len(spec.validation) == 2):
        raise ValueError("validation= must be a pair (x, y) of inputs and integer labels")


def quantized_graph(model, spec: QuantizeSpec):
    """(the model's inference graph quantized as `spec` says and optimised, its report or None).
    With validation=(x, y), the int8 report and the accuracy limit use that data and its
    labels; without it, the calibration data and top-1 agreement with float."""
    from aot.driver import optimize, quantize_for_inference

    graph = optimize(model.to_graph())
    if spec.mode != "int8":
        return quantize_for_inference(graph, spec.mode, None)
    from aot.passes.quantize_calibrate import as_batches, calibrate
    from aot.passes.quantize_report import quantize_within

    cal = calibrate(graph, _by_name(graph, spec.calibration), spec.method)
    labels = None
    if spec.validation is not None:
        x, labels = spec.validation
        cal = replace(cal, feeds=as_batches(graph, _by_name(graph, x)))
    quantized, report = quantize_within(graph, cal, labels=labels,
                                        max_accuracy_drop=spec.max_accuracy_drop)
    return optimize(quantized), report


def _by_name(graph, x) -> dict:
    """Keras-style data (array, list, dict) as {input name: float array}."""
    from .model import _feeds

    return dict(zip(graph.input_names, _feeds(graph, x)))


def compile_quantized(model, spec: QuantizeSpec, target: str):
    """The loaded quantized module for `target`, its `quantization_report` set."""
    import aot

    graph, report = quantized_graph(model, spec)
    module = aot.compile(graph, target=target)
    module.quantization_report = report
    return module
