"""The Layer base class: Keras 3's contract (constructor -> build(input_shape) -> call ->
compute_output_shape -> get_config) over our tracing.

`layer(x)` does one of three things, by what `x` is:
- a KerasTensor of the active trace: `call` emits IR nodes into that trace;
- a symbolic KerasTensor (functional construction): the call is traced once into a
  scratch graph to build the weights and learn the output types, and recorded as a
  `CallNode` that models replay later;
- numpy arrays (eager): a small graph is traced and run by the numpy interpreter.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import itertools
from typing import Optional

import numpy as np

from aot.ir import GraphBuilder, Value, interpret

from .. import initializers
from ..tracing import (KerasTensor, Variable, current_trace, flatten, map_structure, tensors_in, to_snake_case, tracing, unique_object_name)


class UnknownArgumentError(TypeError, ValueError):
    """An unknown constructor argument. Keras 3 raises ValueError for layers and TypeError
    for models; this is both, so code written for either catches it."""


def check_kwargs(owner: str, kwargs: dict) -> None:
    if kwargs:
        raise UnknownArgumentError(f"Unrecognized keyword arguments passed to {owner}: {kwargs}")


class CallNode:
    """One recorded call of a layer on symbolic tensors (an edge of a functional model)."""

    def __init__(self, layer: "Layer", args, kwargs):
        self.layer, self.args, self.kwargs = layer, args, kwargs
        self.outputs: list[KerasTensor] = []

    @property
    def input_tensors(self) -> list[KerasTensor]:
        return tensors_in(self.args, self.kwargs)


_PATH_SCOPE: list[str] = []


def _wrap_build(build):
    """As Keras's build_wrapper: set the weight path scope, mark built, remember the shape."""
    @functools.wraps(build)
    def wrapper(self, *args, **kwargs):
        if self.__dict__.get("_in_build"):
            return build(self, *args, **kwargs)  # super().build(...) inside a build
        self._in_build = True
        try:
            with self._path_scope():
                build(self, *args, **kwargs)
        finally:
            self._in_build = False
        self._build_shapes = (args, kwargs)
        self.built = True
    return wrapper


class Layer:
    """Base class of every layer and model."""

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "build" in cls.__dict__:
            cls.build = _wrap_build(cls.__dict__["build"])

    def __init__(self, *, activity_regularizer=None, trainable=True, dtype=None, autocast=True,
                 name=None, **kwargs):
        input_dim = kwargs.pop("input_dim", None)
        input_shape = kwargs.pop("input_shape", None)
        check_kwargs(type(self).__name__, kwargs)
        if not isinstance(trainable, bool):
            raise ValueError(f"Expected `trainable` to be a boolean. Received: trainable={trainable}")
        self.name = name or unique_object_name(to_snake_case(type(self).__name__))
        self._trainable = trainable
        self.dtype = np.dtype(dtype or "float32").name
        self.autocast = autocast
        self.activity_regularizer = activity_regularizer
        self._input_shape_arg = (input_dim,) if input_dim is not None else (
            tuple(input_shape) if input_shape is not None else None)
        self.built = False
        self._path: Optional[str] = None
        self._trainable_variables: list[Variable] = []
        self._non_trainable_variables: list[Variable] = []
        self._inbound_nodes: list[CallNode] = []
        self._output_shapes = None

    # ------------------------------------------------------------ tracking

    @property
    def path(self) -> str:
        return self._path or self.name

    @contextlib.contextmanager
    def _path_scope(self):
        """Weights made inside are named "<parent>/<layer>/<weight>"; models add no level."""
        from ..model import Model

        if isinstance(self, Model):
            yield
            return
        if self._path is None:
            self._path = f"{_PATH_SCOPE[-1]}/{self.name}" if _PATH_SCOPE else self.name
        if _PATH_SCOPE and _PATH_SCOPE[-1] == self._path:
            yield
            return
        _PATH_SCOPE.append(self._path)
        try:
            yield
        finally:
            _PATH_SCOPE.pop()

    def _sublayers(self) -> list["Layer"]:
        """Layers held in attributes (directly or in lists/dicts), in assignment order."""
        out, seen = [], {id(self)}
        for key, v in self.__dict__.items():
            if key.startswith("_inbound") or key in ("_outputs_struct", "_inputs_struct"):
                continue
            leaves = flatten(v) if isinstance(v, (list, tuple, dict)) else [v]
            for leaf in leaves:
                if isinstance(leaf, Layer) and id(leaf) not in seen:
                    seen.add(id(leaf))
                    out.append(leaf)
        return out

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for layer in self._sublayers():
            layer.trainable = value

    @property
    def weights(self) -> list[Variable]:
        """Keras order: own trainable, own non-trainable, then each sublayer's."""
        out, seen = [], set()
        for w in self._trainable_variables + self._non_trainable_variables:
            out.append(w), seen.add(id(w))
        for layer in self._sublayers():
            for w in layer.weights:
                if id(w) not in seen:
                    out.append(w), seen.add(id(w))
        return out

    @property
    def variables(self) -> list[Variable]:
        """Keras 3: the weights, then the random-seed state (Dropout's counter), which is
        state a training step updates but not a weight."""
        out = self.weights
        seen = {id(w) for w in out}
        return out + [v for v in self._seed_state() if id(v) not in seen]

    def _seed_state(self) -> list[Variable]:
        own = list(self.__dict__.get("_seed_variables", ()))
        return own + [v for layer in self._sublayers() for v in layer._seed_state()]

    @property
    def trainable_weights(self) -> list[Variable]:
        return [w for w in self.weights if w.trainable and self._owner_trainable(w)]

    @property
    def non_trainable_weights(self) -> list[Variable]:
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    def _owner_trainable(self, w: Variable) -> bool:
        owner = getattr(w, "_layer", None)
        return self.trainable and (owner is None or owner.trainable)

    def add_weight(self, shape=None, initializer=None, dtype=None, trainable=True, autocast=True,
                   regularizer=None, constraint=None, aggregation="none",
                   overwrite_with_gradient=False, name=None) -> Variable:
        """A weight filled by `initializer` (default glorot_uniform), float32 unless told."""
        shape = tuple(int(d) for d in (shape or ()))
        dtype = np.dtype(dtype or self.dtype).name
        init = initializers.get(initializer or ("glorot_uniform" if dtype.startswith("float")
                                                else "zeros"))
        data = np.asarray(init(shape, dtype=dtype), dtype=dtype)
        name = name or f"variable_{len(self._trainable_variables) + len(self._non_trainable_variables)}"
        with self._path_scope():
            path = f"{self.path}/{name}"
        var = Variable(data, name, path, trainable=trainable)
        var._layer = self
        (self._trainable_variables if trainable else self._non_trainable_variables).append(var)
        return var

    # ------------------------------------------------------------ the contract

    def build(self, input_shape=None):
        self.built = True

    def call(self, *args, **kwargs):
        raise NotImplementedError(f"Layer {type(self).__name__} does not have a `call()` method")

    def compute_output_shape(self, input_shape, *args, **kwargs):
        """By tracing `call` on placeholders of these shapes (Keras's compute_output_spec)."""
        out = self._scratch_call((_placeholders(input_shape, self.dtype),) + args, kwargs)
        return map_structure(lambda t: t.shape if isinstance(t, KerasTensor) else t, out)

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def get_build_config(self):
        return {"input_shape": self._build_shapes[0][0]} if self.__dict__.get("_build_shapes") else None

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(f"You tried to call `count_params` on layer '{self.name}', "
                             "but the layer isn't built. You can build it manually via: "
                             f"`{self.name}.build(batch_input_shape)`.")
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    def get_weights(self) -> list[np.ndarray]:
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights) -> None:
        """Keras order; the count and every shape must match."""
        mine = self.weights
        if len(weights) != len(mine):
            raise ValueError(f"You called `set_weights(weights)` on layer '{self.name}' with a "
                             f"weight list of length {len(weights)}, but the layer was expecting "
                             f"{len(mine)} weights.")
        arrays = [np.asarray(w) for w in weights]
        for var, arr in zip(mine, arrays):
            if tuple(arr.shape) != var.shape:
                raise ValueError(f"Layer {self.name} weight shape {var.shape} is not compatible "
                                 f"with provided weight shape {tuple(arr.shape)}.")
        for var, arr in zip(mine, arrays):
            var.assign(arr)

    @property
    def output_shape(self):
        if self._output_shapes is None:
            raise AttributeError(f"The layer {self.name} has never been called and thus has no "
                                 "defined output shape.")
        return self._output_shapes

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"

    # ------------------------------------------------------------ calling

    def __call__(self, *args, **kwargs):
        tensors = tensors_in(args, kwargs)
        if not tensors:
            return self._eager_call(args, kwargs)
        if all(t.trace is None for t in tensors):
            return self._symbolic_call(args, kwargs)
        if any(t.trace is not current_trace() for t in tensors):
            raise ValueError(f"layer {self.name!r}: inputs come from different graphs "
                             "(mixing a functional model's tensors with traced ones)")
        return self._traced_call(args, kwargs)

    def _accepts(self, arg: str) -> bool:
        """Does `call` name this argument (Keras passes `training` only then)?"""
        return arg in inspect.signature(self.call).parameters

    def _build_for_call(self, args, kwargs) -> None:
        """Keras builds from the first argument's shape(s)."""
        self.build(map_structure(lambda t: t.shape if isinstance(t, KerasTensor) else t, args[0]))
        self.built = True

    def _traced_call(self, args, kwargs):
        trace = current_trace()
        if not self.built:
            with self._path_scope():
                self._build_for_call(args, kwargs)
        if self._accepts("training") and kwargs.get("training") is None:
            kwargs = {**kwargs, "training": trace.training}
        with trace.scope(self.name), self._path_scope():
            out = self.call(*args, **kwargs)
        for t in tensors_in(out):
            t._layer = self
        self._output_shapes = map_structure(
            lambda t: t.shape if isinstance(t, KerasTensor) else t, out)
        return out

    def _scratch_call(self, args, kwargs):
        """Trace a call into a throwaway graph, on fresh inputs of the same types."""
        counter = itertools.count()
        with tracing(GraphBuilder("scratch")) as trace:
            def feed(x):
                if not isinstance(x, KerasTensor):
                    return x
                return trace.input(f"x{next(counter)}", x.type)
            args, kwargs = map_structure(feed, (args, kwargs))
            return self._traced_call(args, kwargs)

    def _symbolic_call(self, args, kwargs):
        out = self._scratch_call(args, kwargs)
        node = CallNode(self, args, kwargs)
        counter = itertools.count()

        def symbolic(t):
            if not isinstance(t, KerasTensor):
                return t
            s = KerasTensor(Value(t.type), None, (node, next(counter)))
            node.outputs.append(s)
            return s
        outputs = map_structure(symbolic, out)
        self._inbound_nodes.append(node)
        return outputs

    def _eager_call(self, args, kwargs):
        """Numpy in, numpy out: trace with the arrays' shapes, run the interpreter."""
        args = (_as_array(args[0]),) + tuple(args[1:]) if args else args
        builder = GraphBuilder("eager")
        feeds, counter = {}, itertools.count()
        with tracing(builder) as trace:
            def feed(x):
                if not isinstance(x, np.ndarray):
                    return x
                name = f"x{next(counter)}"
                feeds[name] = x
                return trace.input(name, _type(x.shape, x.dtype.name))
            out = self._traced_call(*map_structure(feed, (args, kwargs)))
        flat = tensors_in(out)
        results, env = interpret(builder.build([t.value for t in flat]), feeds, return_env=True)
        for var, value in trace.variable_updates():  # a training call advances its state
            var.assign(env[value])
        by_id = {id(t): r for t, r in zip(flat, results)}
        return map_structure(lambda t: by_id[id(t)] if isinstance(t, KerasTensor) else t, out)


def _as_array(x):
    """Eager inputs: numpy arrays; floats become float32 as Keras does."""
    if isinstance(x, (list, tuple)) and x and all(isinstance(e, np.ndarray) for e in flatten(x)):
        return type(x)(_as_array(e) for e in x)
    arr = np.asarray(x)
    return arr.astype(np.float32) if arr.dtype == np.float64 else arr


def _type(shape, dtype):
    from aot.ir import TensorType

    from ..tracing import ir_shape

    return TensorType(ir_shape(shape), dtype)


def _is_shape(s) -> bool:
    return isinstance(s, (list, tuple)) and all(d is None or isinstance(d, int) for d in s)


def _placeholders(shape, dtype):
    """Symbolic tensors for a shape, or a list/dict of shapes."""
    if isinstance(shape, dict):
        return {k: _placeholders(v, dtype) for k, v in shape.items()}
    if _is_shape(shape):
        return KerasTensor(Value(_type(shape, dtype)))
    return [_placeholders(s, dtype) for s in shape]


class OpLayer(Layer):
    """A weightless layer running one ops function: how `x * 2` between layers of a
    functional model becomes part of it."""

    def __init__(self, fn, op_name: str):
        super().__init__(name=unique_object_name(op_name))
        self.fn = fn

    def call(self, *args, **kwargs):
        return self.fn(*args, **kwargs)
