"""Callbacks as in Keras 3: the hooks `fit` and `evaluate` call, History, the progress
bar (ProgbarLogger), EarlyStopping, ModelCheckpoint and LambdaCallback.

The model's weights are the trained ones whenever an epoch-end hook runs
(`fit` copies them back from the compiled module first), so callbacks read and
set them with `get_weights`/`set_weights`/`save` as in Keras.
"""
from __future__ import annotations

import sys
import time
import warnings

import numpy as np


class Callback:
    """Keras' base: every hook does nothing; `model` and `params` are set by `fit`."""

    def __init__(self):
        self.params = {}
        self._model = None

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self._model = model

    @property
    def model(self):
        return self._model

    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_batch_begin(self, batch, logs=None): self.on_batch_begin(batch, logs=logs)
    def on_train_batch_end(self, batch, logs=None): self.on_batch_end(batch, logs=logs)
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass
    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass


class CallbackList(Callback):
    """Calls each hook on every callback, in order: the progress bar first, History last."""

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        super().__init__()
        self.callbacks = list(callbacks or [])
        for c in self.callbacks:
            if not isinstance(c, Callback):
                raise TypeError(f"callbacks must be aot.callbacks.Callback instances, got {c!r}")
        if add_progbar and not any(isinstance(c, ProgbarLogger) for c in self.callbacks):
            self.callbacks.insert(0, ProgbarLogger())
        self.history = next((c for c in self.callbacks if isinstance(c, History)), None)
        if add_history and self.history is None:
            self.history = History()
            self.callbacks.append(self.history)
        if model is not None:
            self.set_model(model)
        self.set_params(params)

    def set_model(self, model):
        super().set_model(model)
        for c in self.callbacks:
            c.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        for c in self.callbacks:
            c.set_params(params)

    def _call(self, hook, *args):
        for c in self.callbacks:
            getattr(c, hook)(*args)

    def on_epoch_begin(self, epoch, logs=None): self._call("on_epoch_begin", epoch, logs)
    def on_epoch_end(self, epoch, logs=None): self._call("on_epoch_end", epoch, logs)
    def on_train_batch_begin(self, batch, logs=None): self._call("on_train_batch_begin", batch, logs)
    def on_train_batch_end(self, batch, logs=None): self._call("on_train_batch_end", batch, logs)
    def on_test_batch_begin(self, batch, logs=None): self._call("on_test_batch_begin", batch, logs)
    def on_test_batch_end(self, batch, logs=None): self._call("on_test_batch_end", batch, logs)
    def on_train_begin(self, logs=None): self._call("on_train_begin", logs)
    def on_train_end(self, logs=None): self._call("on_train_end", logs)
    def on_test_begin(self, logs=None): self._call("on_test_begin", logs)
    def on_test_end(self, logs=None): self._call("on_test_end", logs)


class History(Callback):
    """Records each epoch's logs: `history.history["loss"]` is the list of epoch losses."""

    def __init__(self):
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


class LambdaCallback(Callback):
    """A callback from functions: on_epoch_end=lambda epoch, logs: ..., and so on."""

    _HOOKS = ("on_epoch_begin", "on_epoch_end", "on_train_begin", "on_train_end",
              "on_train_batch_begin", "on_train_batch_end")

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        given = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end, **kwargs)
        for hook, fn in given.items():
            if fn is not None:
                setattr(self, hook, fn)


# ---------------------------------------------------------------- progress


def _format_value(v) -> str:
    """Keras' Progbar: 4 decimals, or scientific notation for tiny values."""
    v = float(v)
    return f"{v:.4f}" if abs(v) > 1e-3 else f"{v:.4e}"


def _format_time(seconds_per_step: float) -> str:
    if seconds_per_step >= 1:
        return f"{seconds_per_step:.0f}s/step"
    if seconds_per_step >= 1e-3:
        return f"{seconds_per_step * 1e3:.0f}ms/step"
    return f"{seconds_per_step * 1e6:.0f}us/step"


def format_logs(logs) -> str:
    """" - accuracy: 0.5000 - loss: 0.6931 - val_loss: ..." (training keys sorted, then val_)."""
    keys = sorted(k for k in logs if not k.startswith("val_"))
    keys += sorted(k for k in logs if k.startswith("val_"))
    return "".join(f" - {k}: {_format_value(logs[k])}" for k in keys)


class Progbar:
    """One line per epoch: redrawn in place on a terminal (verbose=1), or written once
    when the epoch ends (verbose=2, or when the output is not a terminal)."""

    def __init__(self, target, verbose=1, interval=0.05, stream=None, start=None):
        self.target, self.verbose, self.interval = target, verbose, interval
        self.stream = stream or sys.stdout
        self._dynamic = verbose == 1 and hasattr(self.stream, "isatty") and self.stream.isatty()
        self._start = self._last = start if start is not None else time.perf_counter()

    def update(self, current, logs=None, finalize=False):
        now = time.perf_counter()
        if not finalize and (not self._dynamic or now - self._last < self.interval):
            return
        self._last = now
        elapsed = now - self._start
        per_step = _format_time(elapsed / max(current, 1))
        width = len(str(self.target)) if self.target else 1
        count = f"{current:>{width}}/{self.target}" if self.target else f"{current}"
        if self.verbose == 2:
            line = f"{count} - {elapsed:.0f}s - {per_step}{format_logs(logs or {})}"
        else:
            filled = int(20 * current / self.target) if self.target else 20
            bar = "━" * filled + ("\x1b[2m" + "━" * (20 - filled) + "\x1b[0m" if filled < 20 else "")
            shown = elapsed if finalize else elapsed / max(current, 1) * (self.target - current)
            line = f"{count} {bar} {shown:.0f}s {per_step}{format_logs(logs or {})}"
        self.stream.write(("\r" + line + "\x1b[K") if self._dynamic else line)
        if finalize:
            self.stream.write("\n")
        self.stream.flush()


class ProgbarLogger(Callback):
    """Keras' progress output for fit: "Epoch 1/10", then the bar with the running logs."""

    def __init__(self):
        super().__init__()
        self._bar = None

    def on_epoch_begin(self, epoch, logs=None):
        verbose = self.params.get("verbose", 1)
        if verbose:
            sys.stdout.write(f"Epoch {epoch + 1}/{self.params.get('epochs')}\n")
            self._bar = Progbar(self.params.get("steps"), verbose)

    def on_train_batch_end(self, batch, logs=None):
        if self._bar is not None:
            self._bar.update(batch + 1, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self._bar is not None:
            self._bar.update(self._bar.target or 0, logs, finalize=True)
            self._bar = None


# ---------------------------------------------------------------- monitoring

def _monitor_op(mode: str, monitor: str, model):
    """np.less or np.greater by `mode`; "auto" asks the metric (Keras' `_direction`)."""
    if mode not in ("auto", "min", "max"):
        warnings.warn(f"mode {mode!r} is unknown, fallback to auto mode.", stacklevel=3)
        mode = "auto"
    if mode == "min":
        return np.less
    if mode == "max":
        return np.greater
    name = monitor[4:] if monitor.startswith("val_") else monitor
    if name == "loss" or name.endswith("_loss"):
        return np.less
    trainer = getattr(model, "_trainer", None)
    direction = trainer.metric_direction(name) if trainer is not None else None
    if direction is None:
        up = any(k in name for k in ("acc", "auc", "precision", "recall"))
        direction = "up" if up else "down"
    return np.greater if direction == "up" else np.less


class EarlyStopping(Callback):
    """Stop training when `monitor` has stopped improving for `patience` epochs."""

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor, self.patience, self.verbose = monitor, patience, verbose
        self.baseline, self.min_delta, self.mode = baseline, abs(min_delta), mode
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch
        self.monitor_op = None
        self.wait, self.stopped_epoch, self.best, self.best_weights, self.best_epoch = 0, 0, None, None, 0

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best, self.best_weights, self.best_epoch = 0, 0, None, None, 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self.monitor_op = _monitor_op(self.mode, self.monitor, self.model)
        current = _monitor_value(self.monitor, logs, "Early stopping")
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def _is_improvement(self, value, reference) -> bool:
        if reference is None:
            return True
        delta = -self.min_delta if self.monitor_op is np.less else self.min_delta
        return bool(self.monitor_op(value - delta, reference))


def _monitor_value(monitor, logs, who):
    value = (logs or {}).get(monitor)
    if value is None:
        warnings.warn(f"{who} conditioned on metric `{monitor}` which is not available. "
                      f"Available metrics are: {','.join(logs or {})}", stacklevel=3)
    return value


class ModelCheckpoint(Callback):
    """Save the model (the artifact, with its training state) after each epoch, or only
    when `monitor` improves (save_best_only). `filepath` may hold {epoch} and log keys:
    "ckpt-{epoch:02d}-{val_loss:.2f}.aot"."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        if save_weights_only:
            raise NotImplementedError("ModelCheckpoint(save_weights_only=True) is not supported "
                                      "yet: checkpoints are whole artifacts")
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(f"Unrecognized save_freq: {save_freq}; expected 'epoch' or a "
                             "positive number of batches")
        self.filepath, self.monitor, self.verbose = str(filepath), monitor, verbose
        self.save_best_only, self.mode, self.save_freq = save_best_only, mode, save_freq
        self.best = initial_value_threshold
        self.monitor_op = None
        self._batches, self._epoch = 0, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches += 1
        if self._batches % self.save_freq == 0:
            self._save(self._epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _save(self, epoch, batch, logs):
        path = self.filepath.format(epoch=epoch + 1, batch=batch, **(logs or {}))
        if self.save_best_only and not self._improved(epoch, logs, path):
            return
        if self.verbose > 0 and not self.save_best_only:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        self.model.save(path, overwrite=True)

    def _improved(self, epoch, logs, path) -> bool:
        if self.monitor_op is None:
            self.monitor_op = _monitor_op(self.mode, self.monitor, self.model)
        current = _monitor_value(self.monitor, logs, "Can save best model only with "
                                 f"{self.monitor} available, skipping; checkpoint")
        if current is None:
            return False
        if self.best is None or self.monitor_op(current, self.best):
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best} to "
                      f"{current:.5f}, saving model to {path}")
            self.best = current
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
        return False


class TerminateOnNaN(Callback):
    """Kept for Keras code: a non-finite loss already stops `fit` with an error."""


class LearningRateScheduler(Callback):
    """Set the learning rate at each epoch's start to `schedule(epoch, lr)` (or
    `schedule(epoch)`), as Keras. The compiled step holds the rate as state, so a change
    takes effect at the next step without a recompile."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(self.model.optimizer.learning_rate)
        try:
            lr = self.schedule(epoch, lr)
        except TypeError:  # a schedule of the epoch only
            lr = self.schedule(epoch)
        if not isinstance(lr, (float, int, np.floating, np.integer)):
            raise ValueError('The output of the "schedule" function should be a float. '
                             f"Got: {lr}")
        self.model.optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(lr)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by `factor` when `monitor` has not improved for `patience`
    epochs (Keras' semantics: min_delta, cooldown, min_lr)."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0, **kwargs):
        super().__init__()
        if factor >= 1.0:
            raise ValueError("ReduceLROnPlateau does not support a factor >= 1.0. "
                             f"Received factor={factor}")
        self.monitor, self.factor, self.patience, self.verbose = monitor, factor, patience, verbose
        self.mode, self.min_delta, self.cooldown, self.min_lr = mode, min_delta, cooldown, min_lr
        self._reset()

    def _reset(self):
        self.monitor_op, self.best, self.wait, self.cooldown_counter = None, None, 0, 0

    def on_train_begin(self, logs=None):
        self._reset()

    def _improved(self, current) -> bool:
        if self.best is None:
            return True
        if self.monitor_op is np.less:
            return current < self.best - self.min_delta
        return current > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = float(self.model.optimizer.learning_rate)
        if self.monitor_op is None:
            self.monitor_op = _monitor_op(self.mode, self.monitor, self.model)
        current = _monitor_value(self.monitor, logs, "Learning rate reduction")
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(current):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = float(self.model.optimizer.learning_rate)
                if old > self.min_lr:
                    new = max(old * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                              f"to {new}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0


__all__ = ["Callback", "CallbackList", "History", "LambdaCallback", "ProgbarLogger", "Progbar",
           "EarlyStopping", "ModelCheckpoint", "TerminateOnNaN", "LearningRateScheduler",
           "ReduceLROnPlateau"]
