"""TVM's C ABI (libtvm_ffi.so, `tvm/ffi/c_api.h`) through ctypes: what the runtime calls.

Why not the `tvm_ffi` Python package: importing it takes ~40 ms (importlib.metadata, its
dataclasses, a C++ extension builder, ml_dtypes), a fifth of a cold start that ONNX Runtime
finishes in ~0.14 s. The runtime needs only global functions, modules, tensors and arrays,
all reachable through the library's stable C ABI in ~1 ms. Objects made here and by the
package live in the same libtvm_ffi.so (dlopen maps a library once per process), so both can
be used in one process (the compiler's).

Ownership: an `Object` holds one strong reference to its handle and drops it when collected.
Arguments are passed as borrowed views (the callee takes its own references); results come
back owned.
"""
from __future__ import annotations

import ctypes
import struct

import numpy as _np
from ctypes import c_char_p, c_int32, c_int64, c_size_t, c_uint8, c_uint16, c_uint32, c_uint64, \
    c_void_p

# Type indices of TVMFFIAny values (TVMFFITypeIndex in c_api.h).
_NONE, _INT, _BOOL, _FLOAT, _OPAQUE_PTR, _DTYPE, _DEVICE = 0, 1, 2, 3, 4, 5, 6
_RAW_STR, _SMALL_STR, _SMALL_BYTES = 8, 11, 12
_OBJECT_BEGIN, _STR, _BYTES, _FUNCTION, _TENSOR, _ARRAY, _MODULE = 64, 65, 66, 68, 70, 71, 73
_HEADER = 24  # sizeof(TVMFFIObject): refcounts, type index, padding, deleter

# DLPack device types by the names TVM uses ("cpu", "cuda", ...).
DEVICE_TYPES = {"cpu": 1, "cuda": 2, "cuda_host": 3, "opencl": 4, "vulkan": 7, "metal": 8,
                "vpi": 9, "rocm": 10, "ext_dev": 12, "hexagon": 16, "webgpu": 15}

# The Python exceptions TVM's error kinds become (as the tvm_ffi package maps them).
_ERRORS = {e.__name__: e for e in (RuntimeError, ValueError, TypeError, AttributeError, KeyError,
                                   IndexError, AssertionError, MemoryError, NotImplementedError)}

_ANY = struct.Struct("<iIq")  # TVMFFIAny: type index, zero padding / small-str length, payload


class _ByteArray(ctypes.Structure):
    _fields_ = [("data", c_void_p), ("size", c_size_t)]


class _DataType(ctypes.Structure):
    _fields_ = [("code", c_uint8), ("bits", c_uint8), ("lanes", c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", c_void_p), ("device_type", c_int32), ("device_id", c_int32),
                ("ndim", c_int32), ("dtype", _DataType), ("shape", ctypes.POINTER(c_int64)),
                ("strides", ctypes.POINTER(c_int64)), ("byte_offset", c_uint64)]


class _SeqCell(ctypes.Structure):  # ArrayObj after its header: TVMFFIAny elements
    _fields_ = [("data", c_void_p), ("size", c_int64)]


class _ArrayObj(ctypes.Structure):  # the header (TVMFFIObject) and the cell, read at once
    _fields_ = [("ref_count", c_uint64), ("type_index", c_int32), ("padding", c_uint32),
                ("deleter", c_void_p), ("data", c_void_p), ("size", c_int64)]


class _Any(ctypes.Structure):
    _fields_ = [("type_index", c_int32), ("small_len", c_uint32), ("value", c_int64)]


class _ErrorCell(ctypes.Structure):
    _fields_ = [("kind", _ByteArray), ("message", _ByteArray), ("backtrace", _ByteArray)]


_LIB = None  # libtvm_ffi.so, once `open_library` has loaded it
_TO_DLPACK = None  # TVMFFITensorToDLPack, bound by open_library
_CAPSULE = ctypes.pythonapi.PyCapsule_New
_CAPSULE.argtypes, _CAPSULE.restype = [c_void_p, c_char_p, c_void_p], ctypes.py_object


def open_library(path: str) -> None:
    """Load libtvm_ffi.so (globally: TVM's other libraries link against it) and bind the C API."""
    global _LIB
    if _LIB is not None:
        return
    lib = ctypes.CDLL(path, ctypes.RTLD_GLOBAL)
    for name, args, res in [
        ("TVMFFIObjectIncRef", [c_void_p], ctypes.c_int),
        ("TVMFFIObjectDecRef", [c_void_p], ctypes.c_int),
        ("TVMFFIFunctionGetGlobal", [ctypes.POINTER(_ByteArray), ctypes.POINTER(c_void_p)],
         ctypes.c_int),
        ("TVMFFIFunctionCall", [c_void_p, c_void_p, c_int32, c_void_p], ctypes.c_int),
        ("TVMFFIErrorMoveFromRaised", [ctypes.POINTER(c_void_p)], None),
        ("TVMFFIDataTypeFromString", [ctypes.POINTER(_ByteArray), ctypes.POINTER(_DataType)],
         ctypes.c_int),
    ]:
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, res
    fast = ctypes.PyDLL(path)  # calls that keep the GIL: cheap ones, never blocking
    for name in ("TVMFFIObjectIncRef", "TVMFFIObjectDecRef"):
        setattr(lib, name, getattr(fast, name))
        getattr(lib, name).argtypes, getattr(lib, name).restype = [c_void_p], ctypes.c_int
    global _TO_DLPACK
    _TO_DLPACK = fast.TVMFFITensorToDLPack
    _TO_DLPACK.argtypes, _TO_DLPACK.restype = [c_void_p, ctypes.POINTER(c_void_p)], ctypes.c_int
    Object._decref = lib.TVMFFIObjectDecRef
    Function._call = ctypes.CDLL(path).TVMFFIFunctionCall  # no argtypes: ~2x cheaper calls
    _LIB = lib


# ------------------------------------------------------------------ values


class Device:
    """A DLPack device: its type code (1 = CPU) and index."""

    __slots__ = ("device_type", "index")

    def __init__(self, device_type: int, index: int):
        self.device_type, self.index = device_type, index

    def dlpack_device_type(self) -> int:
        return self.device_type

    def __repr__(self) -> str:
        return f"Device({self.device_type}, {self.index})"


def device(kind: str, index: int = 0) -> Device:
    """The device named `kind` ('cpu', 'cuda', ...); ValueError for a name TVM does not know."""
    if kind not in DEVICE_TYPES:
        raise ValueError(f"unknown device type {kind!r}")
    return Device(DEVICE_TYPES[kind], index)


class DataType:
    """A dtype by name, passed to TVM as its DLDataType."""

    __slots__ = ("name", "packed")
    _cache: dict = {}

    def __new__(cls, name: str):
        found = cls._cache.get(name)
        if found is None:
            out, text = _DataType(), name.encode()
            _check(_LIB.TVMFFIDataTypeFromString(ctypes.byref(_ByteArray(
                ctypes.cast(c_char_p(text), c_void_p), len(text))), ctypes.byref(out)))
            found = super().__new__(cls)
            found.name, found.packed = name, out.code | out.bits << 8 | out.lanes << 16
            cls._cache[name] = found
        return found


class Object:
    """One owned reference to a TVM object."""

    __slots__ = ("handle", "any")
    _decref = None  # TVMFFIObjectDecRef, bound by open_library (kept for use at exit)

    def __init__(self, handle: int, type_index: int):
        self.handle = handle
        self.any = _ANY.pack(type_index, 0, handle)  # how it is passed as an argument

    def __del__(self):
        if self.handle:
            self._decref(self.handle)


class Function(Object):
    __slots__ = ("_chandle",)
    _call = None  # TVMFFIFunctionCall, bound by open_library

    def __init__(self, handle: int, type_index: int):
        super().__init__(handle, type_index)
        self._chandle = c_void_p(handle)

    def __call__(self, *args):
        keep = []  # what must live through the call (strings, arrays made for it)
        result = _Any()
        if self._call(self._chandle, b"".join([_pack(a, keep) for a in args]), len(args),
                      ctypes.byref(result)):
            _raise_last()
        return _value(result)

    def call_packed(self, packed: bytes, count: int) -> int:
        """Call with `count` arguments already packed (`pack`); the result must be an object,
        returned as its handle, owned by the caller (`host_outputs` releases it). The runtime's
        hot path: no Python wrapper is made for the result."""
        result = _Any()
        if self._call(self._chandle, packed, count, ctypes.byref(result)):
            _raise_last()
        if result.type_index < _OBJECT_BEGIN:
            raise TypeError(f"expected an object from the call, got type index "
                            f"{result.type_index}")
        return result.value


class Module(Object):
    __slots__ = ()

    def __getitem__(self, name: str) -> Function:
        """The module's function `name` (AttributeError if it has none, as tvm_ffi says)."""
        fn = _global("ffi.ModuleGetFunction")(self, name, False)
        if fn is None:
            raise AttributeError(f"Module has no function '{name}'")
        return fn


class Tensor(Object):
    __slots__ = ()

    @property
    def dltensor(self) -> _DLTensor:
        """Its DLTensor (read in place: valid while the tensor lives)."""
        return _DLTensor.from_address(self.handle + _HEADER)

    @property
    def shape(self) -> tuple:
        t = self.dltensor
        return tuple(t.shape[:t.ndim])

    @property
    def __array_interface__(self) -> dict:
        """numpy's view of a host tensor's memory (the view keeps the tensor alive); numeric
        dtypes of whole bytes only."""
        t = self.dltensor
        kind = {0: "i", 1: "u", 2: "f"}.get(t.dtype.code)
        if kind is None or t.dtype.lanes != 1 or t.dtype.bits % 8 or t.device_type != 1:
            raise TypeError("only host tensors of int, uint and float dtypes have numpy views")
        return {"shape": self.shape, "typestr": f"<{kind}{t.dtype.bits // 8}", "version": 3,
                "data": (t.data + t.byte_offset, False),
                "strides": tuple(s * (t.dtype.bits // 8) for s in t.strides[:t.ndim])
                if t.strides else None}


def array_cells(handle: int):
    """The elements of an Array object by its handle, as TVMFFIAny values (borrowed)."""
    cell = _SeqCell.from_address(handle + _HEADER)
    return (_Any * cell.size).from_address(cell.data) if cell.size else ()


def borrow(cell: _Any):
    """A container's element (a TVMFFIAny), with a reference of its own."""
    if cell.type_index >= _OBJECT_BEGIN:
        _LIB.TVMFFIObjectIncRef(cell.value)
    return _value(cell)


class Array(Object):
    __slots__ = ()

    def __len__(self) -> int:
        return _SeqCell.from_address(self.handle + _HEADER).size

    def __getitem__(self, i: int):
        return borrow(array_cells(self.handle)[i])

    def __iter__(self):
        return iter([borrow(c) for c in array_cells(self.handle)])


_CLASSES = {_FUNCTION: Function, _MODULE: Module, _TENSOR: Tensor, _ARRAY: Array}


# ------------------------------------------------------------------ calls


def get_global_func(name: str, allow_missing: bool = False):
    """A global function by name (None, or ValueError naming it, when none is registered)."""
    handle = c_void_p()
    text = name.encode()
    _check(_LIB.TVMFFIFunctionGetGlobal(ctypes.byref(_ByteArray(
        ctypes.cast(c_char_p(text), c_void_p), len(text))), ctypes.byref(handle)))
    if not handle.value:
        if allow_missing:
            return None
        raise ValueError(f"cannot find global function {name}")
    return Function(handle.value, _FUNCTION)


_GLOBALS: dict = {}


def _global(name: str) -> Function:
    fn = _GLOBALS.get(name)
    if fn is None:
        fn = _GLOBALS[name] = get_global_func(name)
    return fn


def load_module(path: str) -> Module:
    """Load a compiled library, kept loaded for the life of the process (as tvm_ffi does:
    functions taken from it must never outlive its code)."""
    mod = _global("ffi.ModuleLoadFromFile")(path)
    _global("ffi.ModuleGlobalsAdd")(mod)
    return mod


def shape(dims) -> Object:
    return _global("ffi.Shape")(*dims)


def pack(objects) -> bytes:
    """Objects packed as call arguments, for `Function.call_packed` (borrowed: the caller
    keeps them alive through the call)."""
    return b"".join([o.any for o in objects])


def host_outputs(result: int, outputs, fallback) -> list:
    """Numpy copies of the tensors in an Array by its handle (a VM result, released here);
    `outputs` gives (index, viewable, numpy dtype) of each. A viewable tensor reaches numpy
    through DLPack, which numpy reads in C (and refuses for memory not on the host); the
    others go through `fallback(tensor, numpy dtype)`. The runtime's hot path: each Python
    step after a kernel has run costs about twice what it does in a loop."""
    try:
        array = _ArrayObj.from_address(result)
        if array.type_index != _ARRAY:
            raise TypeError("expected the entry to return a tuple of tensors")
        if array.size < len(outputs):
            raise IndexError(f"the result holds {array.size} values, expected {len(outputs)}")
        out = []
        for i, viewable, dtype in outputs:
            item = _Any.from_address(array.data + 16 * i)
            if viewable and item.type_index == _TENSOR:
                managed = c_void_p()
                if _TO_DLPACK(item.value, ctypes.byref(managed)):
                    _raise_last()
                view = _DLPackView()
                view.capsule = _CAPSULE(managed, b"dltensor", None)
                out.append(_np.from_dlpack(view).copy())
            else:
                out.append(fallback(borrow(item), dtype))
        return out
    finally:
        Object._decref(result)


class _DLPackView:
    """A host tensor's DLPack capsule, for `numpy.from_dlpack` (which takes it over: numpy
    releases the tensor when its view is freed)."""

    __slots__ = ("capsule",)

    def __dlpack__(self, **_):
        return self.capsule

    def __dlpack_device__(self):
        return (1, 0)


def _pack(value, keep: list) -> bytes:
    """One argument as a TVMFFIAny (a borrowed view: no reference is taken)."""
    if isinstance(value, Object):
        return value.any
    if value is None:
        return _ANY.pack(_NONE, 0, 0)
    if isinstance(value, bool):
        return _ANY.pack(_BOOL, 0, int(value))
    if isinstance(value, int):
        return _ANY.pack(_INT, 0, value)
    if isinstance(value, float):
        return struct.pack("<iId", _FLOAT, 0, value)
    if isinstance(value, str):
        buf = c_char_p(value.encode())
        keep.append(buf)
        return _ANY.pack(_RAW_STR, 0, ctypes.cast(buf, c_void_p).value)
    if isinstance(value, c_void_p):
        return _ANY.pack(_OPAQUE_PTR, 0, value.value or 0)
    if isinstance(value, DataType):
        return _ANY.pack(_DTYPE, 0, value.packed)
    if isinstance(value, Device):
        return _ANY.pack(_DEVICE, 0, value.device_type | value.index << 32)
    if isinstance(value, (list, tuple)):  # an Array made for the call
        array = _global("ffi.Array")(*value)
        keep.append(array)
        return array.any
    raise TypeError(f"cannot pass a {type(value).__name__} to a TVM function")


def _value(result: _Any):
    """A call's result as Python: objects wrapped (owning the reference the call gave us)."""
    t = result.type_index
    if t >= _OBJECT_BEGIN:
        return _object(result.value, t)
    if t == _NONE:
        return None
    if t == _INT:
        return result.value
    if t == _BOOL:
        return bool(result.value)
    if t == _FLOAT:
        return struct.unpack("<d", struct.pack("<q", result.value))[0]
    if t in (_SMALL_STR, _SMALL_BYTES):
        data = result.value.to_bytes(8, "little", signed=True)[:result.small_len]
        return data.decode() if t == _SMALL_STR else data
    if t == _OPAQUE_PTR:
        return c_void_p(result.value)
    if t == _DEVICE:
        return Device(result.value & 0xFFFFFFFF, result.value >> 32)
    raise TypeError(f"unsupported TVM result type index {t}")


def _object(handle: int, type_index: int):
    if type_index in (_STR, _BYTES):  # copied out; the object is released
        cell = _ByteArray.from_address(handle + _HEADER)
        data = ctypes.string_at(cell.data, cell.size)
        Object._decref(handle)
        return data.decode() if type_index == _STR else data
    return _CLASSES.get(type_index, Object)(handle, type_index)


def _check(code: int) -> None:
    if code:
        _raise_last()


def _raise_last():
    """Raise the error TVM has just set, as the Python exception its kind names."""
    handle = c_void_p()
    _LIB.TVMFFIErrorMoveFromRaised(ctypes.byref(handle))
    if not handle.value:
        raise RuntimeError("a TVM call failed without saying why")
    cell = _ErrorCell.from_address(handle.value + _HEADER)
    kind = ctypes.string_at(cell.kind.data, cell.kind.size).decode(errors="replace")
    message = ctypes.string_at(cell.message.data, cell.message.size).decode(errors="replace")
    Object._decref(handle.value)
    raise _ERRORS.get(kind, RuntimeError)(message)
