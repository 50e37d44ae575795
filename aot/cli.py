"""The `aot` command line: import, compile, run and inspect models.

Each command imports what it needs when it runs: `aot run` and `aot inspect`
use only the runtime (never the compiler). Bad input ends with one line,
`Error: ...`, and exit code 2; never a traceback (AOT_TRACEBACK=1 shows one).
"""
from __future__ import annotations

import functools
import os
import sys
import time
from collections import Counter
from pathlib import Path

import click
import numpy as np

import aot


class BadInput(click.ClickException):
    exit_code = 2


def _one_line(e: BaseException) -> str:
    if isinstance(e, OSError) and e.filename is not None:
        return f"{e.filename}: {e.strerror or e}"
    if isinstance(e, KeyError) and e.args:
        return str(e.args[0])
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _bad_input_errors() -> tuple:
    from aot.runtime import ArtifactError
    from aot.runtime.tvm_loader import TVMLoadError

    return (ValueError, OSError, KeyError, NotImplementedError, ArtifactError, TVMLoadError)


def _clean_errors(fn):
    """Our errors and bad files become `Error: <one line>` (exit 2); bugs say so (exit 1)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except click.ClickException:
            raise
        except Exception as e:
            if os.environ.get("AOT_TRACEBACK"):
                raise
            if isinstance(e, _bad_input_errors()):
                raise BadInput(_one_line(e)) from None
            raise click.ClickException(f"internal error ({type(e).__name__}: {_one_line(e)}); "
                                       "AOT_TRACEBACK=1 shows the traceback") from None
    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(aot.__version__, prog_name="aot")
def main():
    """aot: an ahead-of-time model compiler (TVM kernels, a tiny runtime)."""


# ------------------------------------------------------------------ import

@main.command("import")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the IR text here (weights beside it as .safetensors); '-' prints it.")
@_clean_errors
def import_cmd(model, output):
    """Read MODEL (.air or .onnx), print a summary, and write its IR text."""
    from aot.ir import verify

    graph = verify(_read_model_file(Path(model)))
    click.echo(graph_summary(graph))
    if output == "-":
        click.echo(str(graph), nl=False)
    elif output:
        weights = write_air(graph, Path(output))
        click.echo(f"wrote {output}" + (f" and {weights}" if weights else ""))


def graph_summary(graph) -> str:
    """Inputs, outputs, op histogram, and the params' count and bytes."""
    ops = Counter(n.op.name for n in graph.nodes)
    values = sum(_size(p.type) for p in graph.params)
    nbytes = sum(_size(p.type) * p.type.dtype.itemsize for p in graph.params)
    lines = [f"graph @{graph.name}",
             "inputs:  " + ", ".join(f"{v.name}: {v.type}" for v in graph.inputs),
             "outputs: " + ", ".join(f"{n}: {v.type}" for n, v in
                                     zip(graph.output_names, graph.outputs)),
             f"ops ({len(graph.nodes)} nodes): "
             + ", ".join(f"{op} {k}" for op, k in ops.most_common()),
             f"params: {len(graph.params)} tensors, {values:,} values, {_human(nbytes)}"]
    return "\n".join(lines)


def _size(t) -> int:
    return int(np.prod([d for d in t.shape if isinstance(d, int)], dtype=np.int64))


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


# ------------------------------------------------------------------ .air files

def read_air(path: Path):
    """Parse IR text; params without inline data take theirs from PATH.safetensors."""
    from aot.ir import ParseError, parse_graph

    try:
        graph = parse_graph(path.read_text())
    except ParseError as e:
        raise ValueError(f"{path}: {e}") from None
    weights_path = path.with_suffix(".safetensors")
    if not weights_path.exists():
        return graph
    from safetensors.numpy import load_file

    from aot.runtime.dtypes import from_storage

    stored = load_file(str(weights_path))
    for p in graph.params:
        if p.data is None and p.name in stored:
            arr = from_storage(stored[p.name], p.type.dtype.value)
            if arr.shape != p.type.shape or arr.dtype != p.type.dtype.numpy:
                raise ValueError(f"{weights_path}: weight {p.name!r} is {arr.dtype.name}"
                                 f"{list(arr.shape)}, the graph declares {p.type}")
            p.data = arr
    return graph


def write_air(graph, path: Path):
    """IR text at PATH, and the params' data in PATH.safetensors (None when there is none)."""
    from safetensors.numpy import save_file

    from aot.runtime.dtypes import to_storage

    path.write_text(str(graph))
    weights = {p.name: to_storage(p.data) for p in graph.params if p.data is not None}
    if not weights:
        return None
    weights_path = path.with_suffix(".safetensors")
    save_file(weights, str(weights_path))
    return weights_path


def _read_model_file(path: Path):
    if path.suffix == ".air":
        return read_air(path)
    if path.suffix == ".onnx":
        if not path.is_file():
            raise FileNotFoundError(2, "no such file", str(path))
        return aot.import_onnx(str(path))
    raise ValueError(f"{path}: unsupported model file (expected .air or .onnx)")


def _load_model(spec: str):
    """MODEL for `aot compile`: a .air or .onnx file, or a zoo model name."""
    path = Path(spec)
    if path.suffix in (".air", ".onnx") or path.exists():
        return _read_model_file(path)
    import aot.models as zoo

    names = zoo.names()
    if spec not in names:
        raise ValueError(f"{spec}: no such file, and not a zoo model (zoo: "
                         f"{', '.join(names) or 'empty'})")
    return zoo.get(spec)


# ------------------------------------------------------------------ compile

@main.command("compile")
@click.argument("model")
@click.option("--target", "-t", default="llvm", show_default=True,
              help="llvm, c, aarch64, cuda, opencl, metal, webgpu.")
@click.option("-o", "--output", type=click.Path(file_okay=False),
              help="The artifact directory to write (default: MODEL_NAME.aot).")
@click.option("--train", is_flag=True,
              help="Also compile train_step and evaluate entries (zoo models), with --loss and "
                   "--optimizer.")
@click.option("--loss", default=None, metavar="L",
              help="A Keras loss name, e.g. sparse_categorical_crossentropy (with --train).")
@click.option("--optimizer", default="adam", show_default=True, metavar="O",
              help="sgd, adam, adamw, rmsprop or adagrad (with --train).")
@click.option("--tuning-db", type=click.Path(), default=None, metavar="DIR",
              help="Use the kernels `aot tune` measured into DIR (default schedules for the rest).")
@click.option("--quantize", type=click.Choice(["int8", "int8-dynamic", "fp16", "bf16"]),
              default=None, help="int8: static, calibrated on --calibration; int8-dynamic: "
                                 "int8 weights, matmul inputs quantized at run time; fp16/bf16: "
                                 "16-bit weights and compute (f32 accumulation, f32 inputs "
                                 "and outputs).")
@click.option("--calibration", type=click.Path(exists=True, dir_okay=False), default=None,
              metavar="DATA.npz", help="Calibration inputs by input name (--quantize int8); an "
                                       "optional 'labels' array makes the metric accuracy.")
@click.option("--calibration-method", type=click.Choice(["minmax", "percentile", "entropy"]),
              default="minmax", show_default=True, help="How activation ranges are chosen.")
@click.option("--max-accuracy-drop", type=float, default=None, metavar="X",
              help="Return the most sensitive layers to float until the metric drops by <= X "
                   "(a fraction: 0.01 is one point).")
@click.option("--report", is_flag=True, help="Print the per-layer int8 error table.")
@_clean_errors
def compile_cmd(model, target, output, train, loss, optimizer, tuning_db, quantize, calibration,
                calibration_method, max_accuracy_drop, report):
    """Compile MODEL (.air file or zoo name) for TARGET into an artifact."""
    from tqdm import tqdm

    from aot.driver import _STEPS, compile as compile_model

    graph_or_model = _load_model(model)
    output = output or f"{Path(model).stem}.aot"
    if train and quantize:
        raise ValueError("--quantize applies to inference artifacts, not with --train")
    quant = _quantize_options(quantize, calibration, calibration_method, max_accuracy_drop)
    if train:
        click.echo(_compile_for_training(graph_or_model, model, target, output, loss, optimizer,
                                         tuning_db))
        return
    with tqdm(total=len(_STEPS), desc="compiling", file=sys.stderr, disable=None,
              leave=False) as bar:
        def on_step(name):
            bar.set_description(name)
            bar.update(1)
        module = compile_model(graph_or_model, target=target, output=output, on_step=on_step,
                               tuning_db=tuning_db, **quant)
    if report and getattr(module, "quantization_report", None) is not None:
        click.echo(module.quantization_report.table())
    if module is None:
        click.echo(f"wrote {output} (target {target}: run it on that device)")
    else:
        click.echo(f"wrote {output}: predict{module.signature}")


def _quantize_options(quantize, calibration, method: str, max_drop) -> dict:
    """compile()'s quantization arguments; the calibration .npz read by input name, its
    'labels' array (if any) kept apart for the accuracy metric."""
    if quantize is None:
        if calibration or max_drop is not None:
            raise ValueError("--calibration and --max-accuracy-drop need --quantize int8")
        return {}
    if quantize != "int8":
        return {"quantize": quantize}
    if calibration is None:
        raise ValueError("--quantize int8 needs --calibration DATA.npz (inputs by name)")
    with np.load(calibration, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    labels = data.pop("labels", None)
    return {"quantize": quantize, "calibration": data, "calibration_method": method,
            "max_accuracy_drop": max_drop, "labels": labels}


def _compile_for_training(model, name: str, target: str, output: str, loss, optimizer,
                          tuning_db=None) -> str:
    """A Keras-style model compiled with `loss` and `optimizer`, saved with its training entries."""
    _check_trainable(model, name, loss)
    model.compile(optimizer=optimizer, loss=loss, target=target, tuning_db=tuning_db)
    model.save(output)
    from aot.runtime.artifact import read_manifest
    from aot.runtime.signature import format_shape

    entries = read_manifest(output)["entries"]
    sig = ", ".join(f"{i['name']}: {format_shape(i['shape'])} {i['dtype']}"
                    for i in entries["train_step"]["inputs"])
    return f"wrote {output}: entries {', '.join(entries)}; train_step({sig})"


def _check_trainable(model, name: str, loss) -> None:
    if not hasattr(model, "compile") or not hasattr(model, "save"):
        raise ValueError(f"{name}: --train needs a zoo model (a Keras-style model); "
                         "an IR graph has no loss to train")
    if loss is None:
        raise ValueError("--train needs --loss (e.g. sparse_categorical_crossentropy)")


# ------------------------------------------------------------------ tune

@main.command("tune")
@click.argument("model")
@click.option("--target", "-t", default="llvm", show_default=True, help="llvm or aarch64.")
@click.option("--trials", type=click.IntRange(min=1), required=True, metavar="N",
              help="Measurements for the whole model, shared by its kernels (big ones get more).")
@click.option("--tuning-db", type=click.Path(), required=True, metavar="DIR",
              help="The database to create or resume; `aot compile --tuning-db DIR` uses it.")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True,
              help="The batch size to tune for (symbolic batch dims take it).")
@click.option("--train", is_flag=True,
              help="Also tune the train_step and evaluate kernels (zoo models, with --loss).")
@click.option("--loss", default=None, metavar="L", help="A Keras loss name (with --train).")
@click.option("--optimizer", default="adam", show_default=True, metavar="O",
              help="The optimizer of the train step (with --train).")
@click.option("--rpc", default=None, metavar="HOST:PORT",
              help="Measure on the devices registered with this RPC tracker.")
@click.option("--key", default=None, metavar="K", help="The device key at the tracker (--rpc).")
@_clean_errors
def tune_cmd(model, target, trials, tuning_db, batch, train, loss, optimizer, rpc, key):
    """Tune MODEL's kernels (.air, .onnx or zoo name) with MetaSchedule into DIR (resumable)."""
    from aot.codegen.tuning import tune

    if rpc is None and key is not None:
        raise ValueError("--key needs --rpc HOST:PORT")
    entries = _tuning_entries(_load_model(model), model, target, train, loss, optimizer)
    report = tune(entries, target, trials, tuning_db, batch=batch, rpc=rpc, key=key)
    click.echo(f"{report.summary()}; database {tuning_db} (batch {batch})")


def _tuning_entries(model, name: str, target: str, train: bool, loss, optimizer) -> dict:
    """{entry: optimised graph}: predict, and with --train the train_step and evaluate too."""
    from aot.driver import optimize_entries, to_graph

    if not train:
        return optimize_entries(to_graph(model))
    _check_trainable(model, name, loss)
    model.compile(optimizer=optimizer, loss=loss, target=target)
    trainer = model._trainer
    trainer._plan()
    return optimize_entries(to_graph(model), trainer._spec({}))


# ------------------------------------------------------------------ run

@main.command("run")
@click.argument("artifact", type=click.Path(file_okay=False))
@click.option("--input", "-i", "inputs", multiple=True, metavar="NAME=FILE.npy",
              help="An input by name (repeat for each); a lone FILE.npy for a one-input model, "
                   "or FILE.npz holding all inputs by name.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Save the outputs (.npz).")
@click.option("--bench", type=click.IntRange(min=1), metavar="N",
              help="Time N runs after a warmup; print the median and p90 latency.")
@click.option("--random-inputs", is_flag=True,
              help="Feed random data of the signature's shapes (symbolic dims take --batch).")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True,
              help="The size of symbolic dims with --random-inputs.")
@click.option("--device", default=None, help="cpu, cuda, cuda:1... (default: the artifact's).")
@_clean_errors
def run_cmd(artifact, inputs, output, bench, random_inputs, batch, device):
    """Run ARTIFACT's predict on inputs from .npy files (runtime only, no compiler)."""
    from aot.runtime import load

    module = load(artifact, device)
    feeds = _read_feeds(inputs, module.signature.input_names)
    if random_inputs:
        feeds = {**random_feeds(module.signature, batch), **feeds}
    outs = module.run(feeds)
    for name, arr in outs.items():
        click.echo(describe_array(name, arr))
    if output:
        np.savez(output, **outs)
        click.echo(f"wrote {output}")
    if bench:
        click.echo(benchmark(lambda: module.run(feeds), bench))


def _read_feeds(specs: tuple[str, ...], names: list[str]) -> dict:
    feeds = {}
    for spec in specs:
        name, sep, file = spec.partition("=")
        if not sep:
            feeds.update(_unnamed_feed(spec, names))
            continue
        feeds[name] = np.load(file, allow_pickle=False)
    return feeds


def random_feeds(signature, batch: int, seed: int = 0) -> dict:
    """Normal floats; integers in [0, 10) so token ids fit any embedding."""
    from aot.runtime.dtypes import numpy_dtype

    rng = np.random.default_rng(seed)
    feeds = {}
    for spec in signature.inputs:
        shape = tuple(batch if isinstance(d, str) else d for d in spec.shape)
        dtype = numpy_dtype(spec.dtype)
        if dtype.kind in "iu":
            feeds[spec.name] = rng.integers(0, 10, size=shape).astype(dtype)
        elif dtype.kind == "b":
            feeds[spec.name] = rng.random(shape) > 0.5
        else:
            feeds[spec.name] = rng.standard_normal(shape).astype(dtype)
    return feeds


def _unnamed_feed(file: str, names: list[str]) -> dict:
    if file.endswith(".npz"):
        with np.load(file, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    if len(names) != 1:
        raise ValueError(f"--input {file}: the model has {len(names)} inputs "
                         f"({', '.join(names)}); name it as NAME={file}")
    return {names[0]: np.load(file, allow_pickle=False)}


def describe_array(name: str, arr: np.ndarray) -> str:
    """`name: (2, 10) float32  min .. max .. mean ..  [first values]`."""
    head = f"{name}: {tuple(arr.shape)} {arr.dtype.name}"
    if arr.size == 0:
        return head + "  (empty)"
    flat = arr.reshape(-1).astype(np.float64)
    first = ", ".join(f"{v:.6g}" for v in flat[:6]) + (", ..." if flat.size > 6 else "")
    return (f"{head}  min {flat.min():.6g}  max {flat.max():.6g}  mean {flat.mean():.6g}"
            f"  [{first}]")


def benchmark(fn, n: int) -> str:
    for _ in range(min(n, 5)):
        fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    ms = np.asarray(times) * 1e3
    return (f"latency over {n} runs: median {np.median(ms):.3f} ms, "
            f"p90 {np.percentile(ms, 90):.3f} ms, min {ms.min():.3f} ms")


# ------------------------------------------------------------------ inspect

@main.command("inspect")
@click.argument("artifact", type=click.Path(file_okay=False))
@_clean_errors
def inspect_cmd(artifact):
    """Show ARTIFACT's manifest: target, entry points, files; check every file's hash."""
    from aot.runtime import artifact as art
    from aot.runtime.signature import Signature, TensorSpec

    m = art.read_manifest(artifact)
    tgt = m["target"]
    click.echo(f"artifact {artifact}: graph @{m['name']}, {m['format']} v{m['format_version']}, "
               f"aot {m['aot_version']}, TVM {m['tvm_version']}")
    click.echo(f"target: {tgt['name']} ({_target_text(tgt['tvm'])}), device {m['device']}")
    for name, e in m["entries"].items():
        sig = Signature(tuple(map(TensorSpec.from_json, e["inputs"])),
                        tuple(map(TensorSpec.from_json, e["outputs"])))
        click.echo(f"entry {name}{sig}")
        click.echo(f"  params: {len(e['params'])}; updates: "
                   f"{', '.join(e['updates']) or 'none'}")
    status = art.file_status(artifact, m)
    click.echo("files:")
    for name, info in m["files"].items():
        click.echo(f"  {name:<22} {_human(info['size']):>10}  sha256 {info['sha256'][:16]}  "
                   f"{status[name]}")
    bad = [f"{n} ({s})" for n, s in status.items() if s != "ok"]
    if bad:
        raise BadInput(f"{artifact}: {', '.join(bad)}; the runtime will refuse it")


def _target_text(t: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in t.items())


if __name__ == "__main__":
    main()
