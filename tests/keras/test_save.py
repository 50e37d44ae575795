"""A model built as Keras users write it, saved, and reloaded in a fresh runtime-only process."""
import json
import subprocess
import sys

import numpy as np

import aot
from aot import layers


def test_save_and_reload_in_a_runtime_only_process(tmp_path):
    model = aot.Sequential([
        layers.Dense(16, activation="relu", input_shape=(10,)),
        layers.Dense(1, activation="sigmoid"),
    ])
    x = np.random.default_rng(0).random((5, 10)).astype("float32")
    w1, b1, w2, b2 = model.get_weights()
    expected = 1 / (1 + np.exp(-(np.maximum(x @ w1 + b1, 0) @ w2 + b2)))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)

    path = tmp_path / "classifier.aot"
    model.save(path)
    np.save(tmp_path / "x.npy", x)
    code = f"""
import sys, json, numpy as np
import aot.runtime
m = aot.runtime.load({str(path)!r})
out = m.predict(np.load({str(tmp_path / 'x.npy')!r}))
maps = open('/proc/self/maps').read()
bad = [k for k in sys.modules if k.startswith(('aot.ir', 'aot.codegen', 'aot.frontends', 'onnx'))]
print(json.dumps({{'out': out.tolist(), 'compiler': 'libtvm_compiler' in maps, 'bad': bad}}))
"""
    res = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                    check=True).stdout.strip().splitlines()[-1])
    assert not res["compiler"] and res["bad"] == []
    np.testing.assert_allclose(np.array(res["out"], np.float32), expected, rtol=1e-5, atol=1e-6)
