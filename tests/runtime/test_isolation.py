"""The runtime loads only TVM's runtime library and none of the compiler's Python packages."""
from __future__ import annotations

import json
import subprocess
import sys

_PROBE = r"""
import json, sys
import numpy as np
import aot.runtime
m = aot.runtime.load(sys.argv[1])
m.predict(np.zeros((2, 4), np.float32), np.zeros((2, 4), np.float32))
maps = open("/proc/self/maps").read()
print(json.dumps({
    "compiler_lib": "libtvm_compiler" in maps,
    "runtime_lib": "libtvm_runtime" in maps,
    "modules": sorted(n for n in sys.modules if n.split(".")[0] in ("onnx", "torch")
                      or n.startswith(("aot.ir", "aot.codegen", "aot.frontends", "aot.passes",
                                       "aot.ops", "aot.driver"))),
}))
"""


def test_runtime_never_loads_the_compiler(built_artifact):
    out = subprocess.run([sys.executable, "-c", _PROBE, str(built_artifact)],
                         capture_output=True, text=True, timeout=120, check=True)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {"compiler_lib": False, "runtime_lib": True, "modules": []}
