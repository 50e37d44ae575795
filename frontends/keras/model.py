"""Model: the base of Sequential, functional and subclassed models.

`to_graph()` traces the model's `call` into an `aot.ir.Graph` (the contract the driver,
`aot.compile(model)`, relies on): graph inputs are named after the model's inputs,
outputs after the layers that produce them, params after the weights' Keras paths
("dense/kernel"); the batch dim is the symbol "N". `predict` runs compiled code and
recompiles only when the weights or the structure change.
"""
from __future__ import annotations

import inspect
import re
import sys
import time

import numpy as np

from aot.ir import GraphBuilder, TensorType, interpret, verify

from .layers.base import Layer, check_kwargs
from .tracing import KerasTensor, flatten, ir_shape, map_structure, tracing


class _Spec:
    """The shape (batch as None) and dtype a subclassed model was first called with."""

    def __init__(self, shape, dtype):
        self.shape, self.dtype = tuple(shape), dtype


class Model(Layer):
    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            from .functional import Functional

            return Layer.__new__(Functional)
        return Layer.__new__(cls)

    def __init__(self, *, trainable=True, dtype=None, name=None, **kwargs):
        check_kwargs(type(self).__name__, kwargs)
        super().__init__(trainable=trainable, dtype=dtype, name=name)
        self._call_specs = None
        self._structure_version = 0
        self._compiled = None  # (cache key, graph, module)
        self._target = None  # set by compile() once training lands; predict uses "llvm" till then
        self._quantization = None  # a quantize.QuantizeSpec once quantize() was called
        self.quantization_report = None

    # ------------------------------------------------------------ building

    def build(self, input_shape=None):
        """Subclassed models build by tracing `call` on symbolic inputs of this shape."""
        if self.__dict__.get("_build_tracing") or input_shape is None:
            return
        self._call_specs = _specs(input_shape, self.dtype)
        self._build_tracing = True
        try:
            self._scratch_call((self._placeholders(),), {})
        finally:
            self._build_tracing = False

    def _build_for_call(self, args, kwargs):
        if self._call_specs is None:
            self._call_specs = map_structure(
                lambda t: _Spec((None,) + t.shape[1:], t.dtype) if isinstance(t, KerasTensor) else t,
                args[0])
        if type(self).build is not Model.build and not self.__dict__.get("_build_tracing"):
            self._build_tracing = True
            try:
                self.build(map_structure(lambda t: t.shape if isinstance(t, KerasTensor) else t,
                                         args[0]))
            finally:
                self._build_tracing = False
        self.built = True

    def _placeholders(self):
        from aot.ir import Value

        return map_structure(lambda s: KerasTensor(Value(TensorType(ir_shape(s.shape), s.dtype))),
                             self._call_specs)

    def _ensure_built(self) -> None:
        if self._call_specs is None:
            raise ValueError(f"Model {self.name!r} has not been built: call it on data, or "
                             "call `model.build(input_shape)` first")
        if not self.built:
            self.build(map_structure(lambda s: s.shape, self._call_specs))

    def _graph_inputs(self, trace):
        """Graph inputs named after `call`'s first parameter ("inputs", "x", ...)."""
        first = next(iter(inspect.signature(self.call).parameters), "inputs")
        flat = flatten(self._call_specs)
        names = iter([first] if len(flat) == 1 else [f"{first}_{i}" for i in range(len(flat))])
        if isinstance(self._call_specs, dict):
            names = iter(self._call_specs)
        return map_structure(
            lambda s: trace.input(next(names), TensorType(ir_shape(s.shape, first), s.dtype)),
            self._call_specs)

    # ------------------------------------------------------------ the graph

    def to_graph(self, training: bool = False):
        """The inference graph (verified); with `training=True` the training-phase graph:
        dropout active, batch norm on batch statistics, and its `updates` holding the state
        each step changes (moving statistics, dropout seed counters)."""
        return self._trace_graph(training=training)

    def _trace_graph(self, training: bool = False):
        self._ensure_built()
        builder = GraphBuilder(re.sub(r"[^A-Za-z0-9_.]", "_", self.name) or "model")
        with tracing(builder, training) as trace:
            inputs = self._graph_inputs(trace)
            kwargs = {"training": training} if self._accepts("training") else {}
            outputs = self.call(inputs, **kwargs)
        flat = [t for t in flatten(outputs) if isinstance(t, KerasTensor)]
        _keras_param_order(builder, trace, self.variables)
        return verify(builder.build(self._name_outputs(builder, flat), trace.updates()))

    def _output_names(self, flat) -> list[str]:
        return [t._layer.name if t._layer is not None and t._layer is not self else f"output_{i}"
                for i, t in enumerate(flat)]

    def _name_outputs(self, builder, flat) -> list:
        named = set()
        for t, name in zip(flat, self._output_names(flat)):
            v = t.value
            if v.node is not None and id(v) not in named:
                v.name = builder.unique_name(name)
                named.add(id(v))
        return [t.value for t in flat]

    def _pack(self, outs: list):
        """Model outputs as Keras returns them: one array, or a list."""
        return outs[0] if len(outs) == 1 else outs

    # ------------------------------------------------------------ running

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Compiled inference, `batch_size` (default 32) rows at a time, last partial batch too."""
        graph, module = self._compiled_module(x)
        arrays = _feeds(graph, x)
        n = arrays[0].shape[0]
        if n == 0:
            raise ValueError("Expected input data to be non-empty.")
        fixed = graph.inputs[0].type.shape[0]
        size = fixed if isinstance(fixed, int) else int(batch_size or 32)
        starts = list(range(0, n, size))
        t0, batches = time.perf_counter(), []
        for i in starts:
            res = module.predict(*[a[i:i + size] for a in arrays])
            batches.append(_as_list(res, graph))
        _progress(verbose, len(starts), time.perf_counter() - t0)
        outs = [np.concatenate([b[k] for b in batches], axis=0) for k in range(len(graph.outputs))]
        return self._pack(outs)

    def quantize(self, mode, calibration=None, method="minmax", max_accuracy_drop=None,
                 validation=None):
        """Post-training quantization (Keras 3's `Model.quantize(mode)`); from now on `predict`
        runs the quantized compiled model. mode: "int8" (static: `calibration` data, ranges by
        `method` minmax|percentile|entropy; with `max_accuracy_drop` the most sensitive layers
        return to float until the metric, accuracy on `validation=(x, y)` or top-1 agreement
        with float, drops by at most that), "int8-dynamic", "fp16" or "bf16".
        `quantization_report` then holds the per-layer int8 error table (None otherwise)."""
        from .quantize import QuantizeSpec, check_spec

        spec = QuantizeSpec(mode, calibration, method, max_accuracy_drop, validation)
        check_spec(self, spec)
        before = self._quantization, self._compiled, self.quantization_report
        self._quantization, self._compiled = spec, None
        try:
            self._compiled_module(None)
        except Exception:  # bad calibration data: the model stays as it was
            self._quantization, self._compiled, self.quantization_report = before
            raise

    def save(self, filepath, overwrite=True):
        """Write the compiled artifact (NAME.aot/: manifest, kernels, weights) that
        `aot.runtime.load` runs without the compiler. Atomic: an interrupted save leaves
        any earlier artifact at `filepath` intact. A model compiled with a loss saves its
        training entries and state too (weights, optimizer slots, step count)."""
        import os

        import aot

        if not overwrite and os.path.exists(filepath):
            raise FileExistsError(f"{filepath} exists and overwrite=False")
        self._ensure_built()
        if self._trainer is not None and self._trainer.loss is not None:
            self._trainer.save(filepath)
            return
        aot.compile(self, target=self._target or "llvm", output=str(filepath))

    # ------------------------------------------------------------ training (training.py)

    _trainer = None  # set by compile()
    stop_training = False
    history = None

    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, **kwargs):
        """Keras' compile, plus `target` (default "llvm") and `tuning_db`."""
        from .training import compile_model

        compile_model(self, optimizer, loss, loss_weights, metrics, **kwargs)

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            **kwargs):
        """Keras' fit on compiled training steps; returns a History."""
        from .training import fit

        return fit(self, x, y, batch_size, epochs, verbose, callbacks, **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", **kwargs):
        """The loss, or [loss, *metrics] (a dict with return_dict=True), compiled."""
        from .training import evaluate

        return evaluate(self, x, y, batch_size, verbose, **kwargs)

    def train_on_batch(self, x, y=None, **kwargs):
        from .training import train_on_batch

        return train_on_batch(self, x, y, **kwargs)

    def test_on_batch(self, x, y=None, **kwargs):
        from .training import test_on_batch

        return test_on_batch(self, x, y, **kwargs)

    def predict_reference(self, x):
        """The same answer from the numpy interpreter (the oracle), whole batch at once."""
        self._build_from_data(x)
        graph = self.to_graph()
        feeds = dict(zip(graph.input_names, _feeds(graph, x)))
        return self._pack(interpret(graph, feeds))

    def predict_on_batch(self, x):
        """One compiled call on the whole of `x`."""
        return self.predict(x, batch_size=len(_first(x)), verbose=0)

    def _build_from_data(self, x) -> None:
        """Keras builds a model of unknown input shape from the first data it sees."""
        if self._call_specs is None and not self.built:
            data = _first(x)
            self.build((None,) + tuple(np.shape(data))[1:])

    def _cache_key(self, target: str):
        weights = tuple((id(w), w.version) for w in self.weights)
        return (weights, self._structure_version, target)

    def _compiled_module(self, x):
        self._build_from_data(x)
        target = self._target or "llvm"
        key = self._cache_key(target)
        if self._quantization is not None:  # a training step's float module never matches
            key = (key, self._quantization)
        if self._compiled is None or self._compiled[0] != key:
            self._compiled = (key, self.to_graph(), self._compile_for_predict(target))
        return self._compiled[1], self._compiled[2]

    def _compile_for_predict(self, target: str):
        import aot

        if self._quantization is None:
            return aot.compile(self, target=target)
        from .quantize import compile_quantized

        module = compile_quantized(self, self._quantization, target)
        self.quantization_report = module.quantization_report
        return module

    # ------------------------------------------------------------ inspection

    @property
    def layers(self) -> list[Layer]:
        return self._sublayers()

    def get_layer(self, name=None, index=None) -> Layer:
        if index is not None and name is not None:
            raise ValueError("Provide only a layer name or a layer index, not both.")
        if index is not None:
            if len(self.layers) <= index:
                raise ValueError(f"Was asked to retrieve layer at index {index} but model only "
                                 f"has {len(self.layers)} layers.")
            return self.layers[index]
        if name is not None:
            for layer in self.layers:
                if layer.name == name:
                    return layer
            raise ValueError(f"No such layer: {name}. Existing layers are: "
                             f"{[layer.name for layer in self.layers]}.")
        raise ValueError("Provide either a layer name or layer index at `get_layer`.")

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        from .summary import print_summary

        print_summary(self, line_length=line_length, print_fn=print_fn)

    def count_params(self) -> int:
        if not self.built:
            raise ValueError("You tried to call `count_params` on layer "
                             f"'{self.name}', but the layer isn't built. You can build it "
                             f"manually via: `{self.name}.build(batch_input_shape)`.")
        return super().count_params()

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable}


# ---------------------------------------------------------------- helpers

def _keras_param_order(builder, trace, weights) -> None:
    """Params in `model.weights` order (as get_weights), constants after them."""
    made = [trace.param_of(w) for w in weights]
    rank = {id(p): i for i, p in enumerate(p for p in made if p is not None)}
    builder.params.sort(key=lambda p: rank.get(id(p), len(rank)))


def _specs(input_shape, dtype):
    """A shape, or a list/dict of shapes, as _Specs."""
    if isinstance(input_shape, dict):
        return {k: _specs(v, dtype) for k, v in input_shape.items()}
    if all(d is None or isinstance(d, (int, np.integer)) for d in input_shape):
        return _Spec(tuple(None if d is None else int(d) for d in input_shape), dtype)
    return [_specs(s, dtype) for s in input_shape]


def _first(x):
    if isinstance(x, dict):
        return next(iter(x.values()))
    if isinstance(x, (list, tuple)) and x and isinstance(x[0], np.ndarray):
        return x[0]
    return x


def adjust_rank(a: np.ndarray, shape) -> np.ndarray:
    """Keras' rank adjustment: data one rank short of a (..., 1) input gains that axis
    (`fit([1., 2.], ...)` for `input_shape=[1]`); one rank over with a trailing 1 loses it."""
    if a.ndim == len(shape) - 1 and shape[-1] == 1:
        return a[..., None]
    if a.ndim == len(shape) + 1 and a.ndim > 1 and a.shape[-1] == 1:
        return a[..., 0]
    return a


def _feeds(graph, x) -> list[np.ndarray]:
    """Arrays in graph-input order, cast to the inputs' dtypes: one array (or nested
    Python list) for one input; a list/tuple or a dict by input name for several."""
    names = graph.input_names
    if isinstance(x, dict):
        missing = [n for n in names if n not in x]
        if missing:
            raise ValueError(f"missing input(s) {missing}; the model's inputs are {names}")
        items = [x[n] for n in names]
    elif len(names) > 1:
        if not isinstance(x, (list, tuple)) or len(x) != len(names):
            raise ValueError(f"the model has {len(names)} inputs {names}; pass a list of "
                             f"{len(names)} arrays or a dict")
        items = list(x)
    else:
        items = [x[0] if isinstance(x, (list, tuple)) and len(x) == 1
                 and isinstance(x[0], np.ndarray) else x]
    arrays = [adjust_rank(np.asarray(a, dtype=v.type.dtype.numpy), v.type.shape)
              for a, v in zip(items, graph.inputs)]
    for a, v in zip(arrays, graph.inputs):
        if not v.type.matches(a.shape):
            raise ValueError(f"input {v.name!r}: expected shape {v.type}, got {a.shape}")
    if len({a.shape[0] for a in arrays}) > 1:
        raise ValueError(f"inputs have different batch sizes {[a.shape[0] for a in arrays]}")
    return arrays


def _as_list(res, graph) -> list[np.ndarray]:
    if isinstance(res, dict):
        return [np.asarray(res[n]) for n in graph.output_names]
    if isinstance(res, (list, tuple)):
        return [np.asarray(r) for r in res]
    return [np.asarray(res)]


def _progress(verbose, steps: int, seconds: float) -> None:
    """Keras's closing progress line: "3/3 ━━━━━━━━━━━━━━━━━━━━ 0s 2ms/step"."""
    if verbose == "auto":
        verbose = 1
    if not verbose:
        return
    per_step = f"{seconds / steps * 1000:.0f}ms/step"
    if verbose == 2:
        sys.stdout.write(f"{steps}/{steps} - {seconds:.0f}s - {per_step}\n")
    else:
        sys.stdout.write(f"{steps}/{steps} {'━' * 20} {seconds:.0f}s {per_step}\n")
    sys.stdout.flush()
