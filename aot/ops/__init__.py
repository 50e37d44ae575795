"""The op families. Importing this package registers every op (see aot.ir.opdef)."""
from . import elementwise  # noqa: F401
from . import reduce  # noqa: F401
from . import shape  # noqa: F401
from . import indexing  # noqa: F401
from . import nn  # noqa: F401
from . import conv  # noqa: F401
from . import pool  # noqa: F401
from . import random  # noqa: F401
from . import bitwise  # noqa: F401
from . import linalg  # noqa: F401
from . import image  # noqa: F401
from . import sorting  # noqa: F401
from . import gather_nd  # noqa: F401
from . import creation  # noqa: F401
from . import bitcast  # noqa: F401
from . import grid_sample  # noqa: F401
from . import quant  # noqa: F401
