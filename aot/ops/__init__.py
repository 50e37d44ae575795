"""The op families. Importing this package registers every op (see aot.ir.opdef)."""
from . import elementwise  # noqa: F401
