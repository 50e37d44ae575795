"""compile / fit / evaluate for Keras-style models, on compiled training steps.

`model.compile(...)` makes a `Trainer`. On the first `fit` (or `evaluate`,
`save`) it traces the training-phase graph, checks the labels against the
losses (before anything is compiled), and compiles ONE artifact with the
entries predict, train_step and evaluate (`aot.compile(model, training=spec)`);
the batch dim is symbolic, so the last partial batch runs the same kernels.
The compiled module holds the weights and optimizer state between calls: a
second `fit` continues where the first stopped. The model's Variables are
copied from the module at the end of each epoch (epoch-end callbacks see the
trained weights; mid-epoch, get_weights gives those of the epoch's start) and
pushed back to it before the next step when user code changes them.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from aot.ir import TensorType

from . import initializers, losses, metrics as metrics_module, optimizers
from .callbacks import CallbackList, Progbar
from .losses import traced
from .model import _feeds


@dataclass
class _Head:
    """One model output: its prediction type, loss, weight, metrics and label input."""

    index: int
    name: str
    pred: TensorType
    loss: Optional[losses.Loss] = None
    weight: Optional[float] = None
    metrics: list = field(default_factory=list)  # identifiers, resolved on first data
    label: Optional[int] = None  # index among the step's labels
    label_name: Optional[str] = None

    @property
    def label_type(self) -> TensorType:
        return losses.label_type(self.loss, self.pred)


class Trainer:
    """What `model.compile` stores; runs fit / evaluate / save for the model."""

    def __init__(self, model, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                 target="llvm", tuning_db=None):
        self.model = model
        self.optimizer = optimizers.get(optimizer)
        self.loss, self.loss_weights, self.metrics_arg = loss, loss_weights, metrics
        self.target, self.tuning_db = target, tuning_db
        self._key = None  # what the traced graph and the module were made for
        self._forward = self._heads = self._metrics = self._module = self._inference = None
        self._synced: dict[str, int] = {}  # variable path -> version the module holds
        self._label_shapes: dict = {}  # the first labels' shapes, for resolving "accuracy"

    # ------------------------------------------------------------ the plan

    def _current_key(self):
        """A plain-number learning rate is state of the compiled step (set before each step),
        so changing it does not recompile; a schedule is part of the step."""
        m = self.model
        config = self.optimizer.training_config()
        if not isinstance(config.get("learning_rate"), dict):
            config.pop("learning_rate", None)
        return (m._structure_version, tuple((v.path, v.trainable and m._owner_trainable(v))
                                            for v in m.variables),
                repr(sorted(config.items())))

    def _plan(self) -> list[_Head]:
        """Trace the training graph and describe the outputs (again if the model changed)."""
        key = self._current_key()
        if self._key != key:
            self._forward = self.model.to_graph(training=True)
            self._heads = self._make_heads(self._forward)
            self._metrics = None
            self._drop_module()
            self._key = key
        return self._heads

    def _make_heads(self, graph) -> list[_Head]:
        names = graph.output_names
        heads = [_Head(i, n, v.type) for i, (n, v) in enumerate(zip(names, graph.outputs))]
        for h, loss in zip(heads, _per_output(self.loss, names, "loss")):
            h.loss = None if loss is None else losses.get(loss)
            if h.loss is not None and h.loss.reduction in ("none", None):
                raise ValueError(f"loss {h.loss.name!r} has reduction={h.loss.reduction!r}; "
                                 "training needs a scalar loss")
        for h, w in zip(heads, _per_output(self.loss_weights, names, "loss_weights")):
            h.weight = None if w is None else float(w)
        for h, ms in zip(heads, _per_output(self.metrics_arg, names, "metrics", listed=True)):
            h.metrics = [] if ms is None else (list(ms) if isinstance(ms, (list, tuple)) else [ms])
        if not any(h.loss is not None for h in heads):
            raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")
        taken = set(graph.input_names) | {p.name for p in graph.params}
        for h in (h for h in heads if h.loss is not None or h.metrics):
            h.label = sum(1 for o in heads[:h.index] if o.label is not None)
            h.label_name = _unique(f"{h.name}_label", taken)
        return heads

    def _labelled(self) -> list[_Head]:
        return [h for h in self._heads if h.label is not None]

    def _resolve_metrics(self, label_shapes) -> list:
        """(display name, Metric, head) in Keras' order; "accuracy" is decided by the first
        labels seen, as Keras decides it by the first batch."""
        if self._metrics is not None:
            return self._metrics
        label_shapes = {**label_shapes, **self._label_shapes}
        self._label_shapes = label_shapes
        multi = len(self._heads) > 1
        out, used = [], {}
        for h in self._labelled():
            shape = label_shapes.get(h.name, tuple(h.label_type.shape))
            for ident in h.metrics:
                metric = metrics_module.resolve(ident, tuple(shape), tuple(h.pred.shape))
                out.append((_dedup(f"{h.name}_{metric.name}" if multi else metric.name, used),
                            metric, h))
        self._metrics = out
        return out

    def _spec(self, label_shapes):
        from aot.passes.train_step import MetricSpec, TrainingSpec

        heads, labelled = self._heads, self._labelled()
        specs = [m.spec(name, h.index, h.label) for name, m, h in self._resolve_metrics(label_shapes)]
        with_loss = [h for h in heads if h.loss is not None]
        if len(with_loss) > 1:  # Keras reports each output's (unweighted) loss too
            specs += [MetricSpec(f"{h.name}_loss", _output_loss_fn(h), "ratio") for h in with_loss]
        return TrainingSpec(self._forward, _loss_fn(heads), self.optimizer.training_config(),
                            tuple(h.label_type for h in labelled),
                            tuple(h.label_name for h in labelled), tuple(specs))

    # ------------------------------------------------------------ data

    def inputs(self, x) -> list[np.ndarray]:
        return _feeds(self._forward, x)

    def labels(self, y, n: int) -> list[np.ndarray]:
        """The label arrays in step order, checked against each loss and reshaped to the
        label inputs' shapes; a clear error before any compiling when they cannot fit."""
        labelled = self._labelled()
        if y is None:
            raise ValueError("fit/evaluate need labels `y` (the model has a loss to compute)")
        items = _per_output_data(y, labelled)
        arrays = []
        for h, data in zip(labelled, items):
            arr = losses.check_labels(h.loss, h.pred, np.asarray(data), h.name)
            if arr.shape[0] != n:
                raise ValueError(f"Data cardinality is ambiguous: x has {n} samples but the labels "
                                 f"for output {h.name!r} have {arr.shape[0]}")
            arrays.append(arr)
        return arrays

    def raw_label_shapes(self, y) -> dict:
        items = _per_output_data(y, self._labelled())
        return {h.name: np.shape(d) for h, d in zip(self._labelled(), items)}

    # ------------------------------------------------------------ the module

    def module(self, label_shapes=None):
        """The compiled training module (compiled now if needed), holding the model's
        current weights."""
        self._plan()
        if self._module is None:
            import aot

            spec = self._spec(label_shapes or {})
            self._module = aot.compile(self.model, target=self.target, tuning_db=self.tuning_db,
                                       training=spec)
            self._inference = self.model.to_graph()
            self._synced = {v.path: v.version for v in self.model.variables}
            self._restore_optimizer_state()
            self._share_with_predict()
        self._push()
        return self._module

    def _drop_module(self) -> None:
        """Forget the module (the model changed). Nothing is lost: the model's variables
        and the optimizer's slots were pulled after its last step."""
        self._module = None

    def _push(self) -> None:
        """Variables changed by user code since the last sync go to the module."""
        changed = {v.path: v.value for v in self.model.variables
                   if self._synced.get(v.path) != v.version}
        if changed:
            self._module.load_state_dict(changed, strict=False)
            self._synced.update({v.path: v.version for v in self.model.variables})

    def pull(self) -> None:
        self._pull()
        self._share_with_predict()

    def _pull(self) -> None:
        """The module's weights, state and optimizer slots back into the model and optimizer."""
        from aot.passes.train_step import ITERATIONS

        state = self._module.state_dict()
        for v in self.model.variables:
            if v.path in state:
                v.assign(state[v.path])
        self._synced = {v.path: v.version for v in self.model.variables}
        self.optimizer.iterations.assign(state[ITERATIONS])
        self.optimizer._slots = {k: a for k, a in state.items() if k.startswith("optimizer/")}

    def _restore_optimizer_state(self) -> None:
        """A recompiled module continues with the optimizer's step count and slots."""
        from aot.passes.train_step import ITERATIONS

        state = dict(getattr(self.optimizer, "_slots", {}))
        state[ITERATIONS] = self.optimizer.iterations.value
        have = self._module.state_dict()
        fit = {k: a for k, a in state.items() if k in have and np.shape(have[k]) == np.shape(a)}
        self._module.load_state_dict(fit, strict=False)

    def _share_with_predict(self) -> None:
        """model.predict runs the training module's predict entry while the weights match."""
        m = self.model
        m._compiled = (m._cache_key(self.target), self._inference, self._module)

    def save(self, filepath) -> None:
        """The artifact with its training entries and full training state."""
        self.module().save(filepath)

    def metric_direction(self, name: str) -> Optional[str]:
        for display, metric, _ in self._metrics or []:
            if display == name:
                return metric._direction
        return None

    # ------------------------------------------------------------ steps

    def train_batch(self, module, feeds: dict, where: str) -> dict:
        from aot.runtime import NonFiniteLossError

        self._push_learning_rate(module)
        try:
            return module.run(feeds, entry="train_step")
        except NonFiniteLossError as e:
            self.pull()  # the weights after the last good step
            raise NonFiniteLossError(f"fit stopped at {where}: {e}") from None

    def _push_learning_rate(self, module) -> None:
        """The optimizer's current (number) learning rate into the step's state, if it moved."""
        from aot.passes.optimizers import LEARNING_RATE

        lr = self.optimizer._learning_rate
        if isinstance(lr, (int, float)) and getattr(self, "_lr_pushed", None) != (id(module), lr):
            module.load_state_dict({LEARNING_RATE: np.float32(lr)}, strict=False)
            self._lr_pushed = (id(module), lr)

    def run_eval(self, module, arrays: list, batch_size: int, callbacks=None) -> dict:
        """Loss and metrics over whole arrays (inputs then labels), batch by batch."""
        from aot.runtime.metrics import Accumulator

        names = module.signatures["evaluate"].input_names
        n = len(arrays[0])
        acc = Accumulator(module.metrics("evaluate"))
        for step, i in enumerate(range(0, n, batch_size)):
            if callbacks is not None:
                callbacks.on_test_batch_begin(step)
            feeds = {k: a[i:i + batch_size] for k, a in zip(names, arrays)}
            acc.add(module.run(feeds, entry="evaluate"), len(feeds[names[0]]))
            if callbacks is not None:
                callbacks.on_test_batch_end(step, acc.result())
        return acc.result()


# ---------------------------------------------------------------- fit / evaluate

def fit(model, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
        validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
        sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
        validation_batch_size=None, validation_freq=1):
    _unsupported(class_weight=class_weight, sample_weight=sample_weight,
                 validation_steps=validation_steps)
    batch_size = int(batch_size or 32)
    trainer, xs, ys, _ = _prepare(model, x, y, compile_now=False)
    train, val = _validation(trainer, xs + ys, validation_split, validation_data)
    module = trainer.module(trainer.raw_label_shapes(y))
    names = module.signatures["train_step"].input_names
    n = len(train[0])
    steps = steps_per_epoch or math.ceil(n / batch_size)
    verbose = 1 if verbose == "auto" else int(verbose)
    cbs = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=model,
                       verbose=verbose, epochs=epochs, steps=steps)
    batches = _batches(n, batch_size, shuffle, steps_per_epoch)
    model.stop_training, logs = False, {}
    cbs.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        module = trainer.module()  # pushes weights callbacks may have set
        cbs.on_epoch_begin(epoch)
        logs = _train_epoch(trainer, module, cbs, names, train, batches, epoch, epochs, steps)
        trainer.pull()
        if val is not None and (epoch + 1) % validation_freq == 0:
            v = trainer.run_eval(module, val, int(validation_batch_size or batch_size))
            logs.update({f"val_{k}": v for k, v in v.items()})
        cbs.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    cbs.on_train_end(logs)
    trainer.module()  # weights restored by callbacks (EarlyStopping) go back to the module
    model.history = cbs.history
    return cbs.history


def _train_epoch(trainer, module, cbs, names, arrays, batches, epoch, epochs, steps) -> dict:
    from aot.runtime.metrics import Accumulator

    acc = Accumulator(module.metrics("train_step"))
    for step in range(steps):
        idx = next(batches)
        cbs.on_train_batch_begin(step)
        trainer._push()  # weights a batch callback set
        feeds = {k: a[idx] for k, a in zip(names, arrays)}
        raw = trainer.train_batch(module, feeds, f"epoch {epoch + 1}/{epochs}, step {step + 1}/{steps}")
        acc.add(raw, len(idx))
        cbs.on_train_batch_end(step, acc.result())
        if trainer.model.stop_training:
            break
    return acc.result()


def evaluate(model, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
             callbacks=None, return_dict=False):
    _unsupported(sample_weight=sample_weight, steps=steps)
    trainer, xs, ys, module = _prepare(model, x, y)
    batch_size = int(batch_size or 32)
    verbose = 1 if verbose == "auto" else int(verbose)
    cbs = CallbackList(callbacks, model=model, verbose=verbose)
    t0 = time.perf_counter()
    cbs.on_test_begin()
    logs = trainer.run_eval(module, xs + ys, batch_size, cbs)
    cbs.on_test_end(logs)
    if verbose:
        steps_done = math.ceil(len(xs[0]) / batch_size)
        Progbar(steps_done, verbose, start=t0).update(steps_done, logs, finalize=True)
    return dict(logs) if return_dict else _flat_logs(logs)


def train_on_batch(model, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
    """One compiled step on (x, y); returns this batch's loss and metrics."""
    from aot.runtime.metrics import batch_result

    _unsupported(sample_weight=sample_weight, class_weight=class_weight)
    trainer, xs, ys, module = _prepare(model, x, y)
    names = module.signatures["train_step"].input_names
    raw = trainer.train_batch(module, dict(zip(names, xs + ys)), "train_on_batch")
    trainer.pull()
    logs = batch_result(module.metrics("train_step"), raw, len(xs[0]))
    return logs if return_dict else _flat_logs(logs)


def test_on_batch(model, x, y=None, sample_weight=None, return_dict=False):
    _unsupported(sample_weight=sample_weight)
    trainer, xs, ys, module = _prepare(model, x, y)
    logs = trainer.run_eval(module, xs + ys, len(xs[0]))
    return logs if return_dict else _flat_logs(logs)


# ---------------------------------------------------------------- helpers

def _prepare(model, x, y, compile_now=True):
    """(trainer, input arrays, label arrays, module): the data checked against the model
    and its losses first, then (with `compile_now`) the module compiled if need be."""
    trainer = _trainer(model)
    model._build_from_data(x)
    trainer._plan()
    xs = trainer.inputs(x)
    ys = trainer.labels(y, len(xs[0]))
    return trainer, xs, ys, trainer.module(trainer.raw_label_shapes(y)) if compile_now else None


def _trainer(model) -> Trainer:
    trainer = getattr(model, "_trainer", None)
    if trainer is None:
        raise RuntimeError("You must call `compile()` before using the model.")
    return trainer


def _unsupported(**given) -> None:
    bad = [k for k, v in given.items() if v is not None]
    if bad:
        raise NotImplementedError(f"{', '.join(bad)} is not supported yet")


def _flat_logs(logs: dict):
    """Keras: the loss alone, or [loss, *metrics]."""
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def _unique(name: str, taken: set) -> str:
    base, i = name, 1
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name


def _dedup(name: str, used: dict) -> str:
    """Keras names a repeated metric "name_1", "name_2"..."""
    if name not in used:
        used[name] = 1
        return name
    used[name] += 1
    return f"{name}_{used[name] - 1}"


def _per_output(arg, names: list[str], what: str, listed: bool = False) -> list:
    """A compile argument spread over the outputs: one value for all, a list in output
    order, or a dict by output name (missing outputs get None). With `listed`, a flat list
    for a single output is that output's list (metrics=["accuracy", "auc"])."""
    if arg is None:
        return [None] * len(names)
    if isinstance(arg, dict):
        unknown = [k for k in arg if k not in names]
        if unknown:
            raise ValueError(f"In the dict argument `{what}`, key(s) {unknown} do not correspond "
                             f"to any model output; the outputs are {names}")
        return [arg.get(n) for n in names]
    if isinstance(arg, (list, tuple)):
        if listed and len(names) == 1:
            return [list(arg)]
        if len(arg) != len(names):
            raise ValueError(f"For a model with {len(names)} outputs, `{what}` as a list needs "
                             f"{len(names)} entries (one per output {names}); got {len(arg)}")
        return list(arg)
    return [arg] * len(names)


def _per_output_data(y, heads: list[_Head]) -> list:
    """Labels as given (one array, a list in output order, or a dict by output name)."""
    if isinstance(y, dict):
        missing = [h.name for h in heads if h.name not in y]
        if missing:
            raise ValueError(f"missing labels for output(s) {missing}; got keys {list(y)}")
        return [y[h.name] for h in heads]
    if len(heads) == 1:
        if isinstance(y, (list, tuple)) and len(y) == 1 and isinstance(y[0], np.ndarray):
            return [y[0]]
        return [y]
    if not isinstance(y, (list, tuple)) or len(y) != len(heads):
        raise ValueError(f"the model has {len(heads)} outputs with labels "
                         f"{[h.name for h in heads]}; pass a list of {len(heads)} label arrays "
                         "or a dict by output name")
    return list(y)


def _loss_fn(heads: list[_Head]):
    """The step's loss: each output's loss, weighted, summed (Keras' CompileLoss)."""
    def loss_fn(b, preds, labels):
        with traced(b, *preds, *labels) as ts:
            p, t = ts[:len(preds)], ts[len(preds):]
            total = None
            for h in (h for h in heads if h.loss is not None):
                value = h.loss(t[h.label], p[h.index])
                value = value if h.weight is None else value * h.weight
                total = value if total is None else total + value
            return total.value
    return loss_fn


def _output_loss_fn(h: _Head):
    """One output's unweighted loss as a batch-size weighted mean: (loss * n, n)."""
    from . import ops

    def outputs_fn(b, preds, labels):
        with traced(b, preds[h.index], labels[h.label]) as (p, t):
            value = h.loss(t, p)
            first = p[(slice(None),) + (0,) * (p.ndim - 1)] if p.ndim > 1 else p
            n = ops.sum(ops.emit("broadcast_like", 1.0, first))
            return {f"{h.name}_loss/total": (value * n).value, f"{h.name}_loss/count": n.value}
    return outputs_fn


def _validation(trainer: Trainer, arrays: list, split: float, data):
    """(training arrays, validation arrays or None): validation_data wins; else the LAST
    `split` fraction of the samples, taken before any shuffling (as Keras)."""
    if data is not None:
        if not isinstance(data, (list, tuple)) or len(data) not in (2, 3):
            raise ValueError("validation_data must be a tuple (x_val, y_val)")
        if len(data) == 3 and data[2] is not None:
            raise NotImplementedError("validation sample weights are not supported yet")
        vx = trainer.inputs(data[0])
        return arrays, vx + trainer.labels(data[1], len(vx[0]))
    if not split:
        return arrays, None
    if not 0 < split < 1:
        raise ValueError(f"validation_split must be in [0, 1), got {split}")
    n = len(arrays[0])
    at = int(math.floor(n * (1.0 - split)))
    if at == 0 or at == n:
        raise ValueError(f"validation_split={split} leaves no samples for "
                         f"{'training' if at == 0 else 'validation'} out of {n}")
    return [a[:at] for a in arrays], [a[at:] for a in arrays]


def _batches(n: int, batch_size: int, shuffle, steps_per_epoch):
    """An endless stream of index arrays: passes over the data, each in a new order when
    shuffling (a generator seeded from aot's global seed, so set_random_seed repeats a run).
    Without steps_per_epoch an epoch is exactly one pass."""
    rng = np.random.default_rng(initializers._GLOBAL["rng"].integers(2 ** 63))
    while True:
        order = rng.permutation(n) if shuffle else np.arange(n)
        for i in range(0, n, batch_size):
            yield order[i:i + batch_size]


def compile_model(model, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                  weighted_metrics=None, run_eagerly=False, steps_per_execution=1, jit_compile="auto",
                  auto_scale_loss=True, target="llvm", tuning_db=None):
    """Store what fit needs; nothing is traced or compiled until the first fit/evaluate/save."""
    from aot.codegen.targets import TARGETS

    if weighted_metrics:
        raise NotImplementedError("weighted_metrics is not supported yet (no sample weights)")
    if run_eagerly:
        raise NotImplementedError("run_eagerly=True is not supported: aot always runs compiled steps")
    if steps_per_execution != 1:
        raise NotImplementedError("steps_per_execution other than 1 is not supported yet")
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; known: {', '.join(TARGETS)}")
    trainer = Trainer(model, optimizer, loss, loss_weights, metrics, target, tuning_db)
    model._trainer, model._target = trainer, target
    model.optimizer, model.loss, model.compiled = trainer.optimizer, loss, True
    model._compiled = None
