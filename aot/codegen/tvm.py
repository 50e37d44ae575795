"""TVM's door for the compiler side: `from aot.codegen.tvm import tvm` loads the
full compiler through the shared loader (torch kept out), and nothing else in
`aot` imports TVM's compiler directly."""
from aot.runtime.tvm_loader import load_tvm

tvm = load_tvm(runtime_only=False)
