"""`model.summary()`: Keras 3's table (layer (type), output shape, params, and for
branching functional models "Connected to"), then the totals with their sizes."""
from __future__ import annotations

import textwrap

import numpy as np

_WIDTHS = {3: [33, 24, 15], 4: [21, 19, 12, 19]}


def readable_memory_size(size: float) -> str:
    """Keras's formatting: 92.00 B, 1.17 KB, ..."""
    for unit in ["B", "KB", "MB", "GB", "TB"]:
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"


def format_shape(shape) -> str:
    if isinstance(shape, dict):
        return "{" + ", ".join(f"{k}: {format_shape(v)}" for k, v in shape.items()) + "}"
    if isinstance(shape, list) or (isinstance(shape, tuple) and shape
                                   and isinstance(shape[0], (tuple, list))):
        return "[" + ", ".join(format_shape(s) for s in shape) + "]"
    if shape is None:
        return "?"
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _shape_text(layer) -> str:
    shape = layer._output_shapes
    return "?" if shape is None else format_shape(shape)


def _connections(layer, model) -> str:
    """"dense[0][0], dense_1[0][0]": producer layer, its call index, output index."""
    nodes = [n for n in layer._inbound_nodes if n in model._nodes]
    parts = []
    for node in nodes:
        for t in node.input_tensors:
            producer, index = t._history
            parts.append(f"{producer.layer.name}[{producer.layer._inbound_nodes.index(producer)}]"
                         f"[{index}]")
    return ", ".join(parts) if parts else "-"


def _sequential_like(model) -> bool:
    from .functional import Functional

    if not isinstance(model, Functional):
        return True
    if len(model.inputs) != 1:
        return False
    used = set()
    for node in model._nodes:
        ins = node.input_tensors
        if len(ins) != 1 or id(ins[0]) in used:
            return False
        used.add(id(ins[0]))
    return True


def _rule(left, mid, right, fill, widths) -> str:
    return left + mid.join(fill * w for w in widths) + right


def _row(cells, widths, aligns, bar="│") -> list[str]:
    """One table row; long cells wrap onto more lines, as rich does."""
    wrapped = [textwrap.wrap(c, w - 2) or [""] for c, w in zip(cells, widths)]
    lines = []
    for i in range(max(len(w) for w in wrapped)):
        parts = []
        for col, w, align in zip(wrapped, widths, aligns):
            text = col[i] if i < len(col) else ""
            parts.append(" " + (text.rjust(w - 2) if align == ">" else text.ljust(w - 2)) + " ")
        lines.append(bar + bar.join(parts) + bar)
    return lines


def _layer_rows(model, connected: bool):
    for layer in model.layers:
        params = layer.count_params() if layer.built else 0
        cells = [f"{layer.name} ({type(layer).__name__})", _shape_text(layer), f"{params:,}"]
        if connected:
            cells.append(_connections(layer, model))
        yield cells


def _weights_size(weights) -> tuple[int, int]:
    count = sum(int(np.prod(w.shape)) for w in weights)
    return count, sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in weights)


def summary_text(model) -> str:
    if not model.built:
        raise ValueError("This model has not yet been built. Build the model first by "
                         "calling `build()` or by calling the model on a batch of data.")
    connected = not _sequential_like(model)
    widths = _WIDTHS[4 if connected else 3]
    heads = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if connected else [])
    aligns = ["<", "<", ">", "<"]
    lines = [f'Model: "{model.name}"', _rule("┏", "┳", "┓", "━", widths)]
    lines += _row(heads, widths, aligns, bar="┃")
    lines.append(_rule("┡", "╇", "┩", "━", widths))
    rows = list(_layer_rows(model, connected))
    for i, cells in enumerate(rows):
        lines += _row(cells, widths, aligns)
        if i < len(rows) - 1:
            lines.append(_rule("├", "┼", "┤", "─", widths))
    lines.append(_rule("└", "┴", "┘", "─", widths))
    total = _weights_size(model.weights)
    trainable = _weights_size(model.trainable_weights)
    non_trainable = _weights_size(model.non_trainable_weights)
    for label, (count, size) in (("Total", total), ("Trainable", trainable),
                                 ("Non-trainable", non_trainable)):
        lines.append(f" {label} params: {count:,} ({readable_memory_size(size)})")
    return "\n".join(lines)


def print_summary(model, line_length=None, print_fn=None) -> None:
    (print_fn or print)(summary_text(model))
