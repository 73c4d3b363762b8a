"""Runs a model compiled by Sieve (libNAME.so) on NumPy arrays, through the artifact's own C API.

Pure Python: ctypes and numpy only. `sieve compile` writes a copy of this file beside every
artifact as NAME.py, so that the folder is usable from Python on its own:

    import sys; sys.path.insert(0, "out/mlp")
    import mlp
    model = mlp.load()                   # libmlp.so beside mlp.py; mlp.load(threads=2)
    print(model.inputs, model.outputs)   # names, dtypes and shapes from mlp_inputs / mlp_outputs
    (probabilities,) = model.run(x)      # or model.run(input=x); returns one array per output

From a Sieve checkout (python/sieve_artifact.py) it loads any artifact:
sieve_artifact.Artifact("out/mlp/libmlp.so").

Every input is checked before the library sees it: its dtype must be the artifact's exactly
(no silent casts) and its shape the artifact's; a mismatch raises TypeError or ValueError naming
the input, what was expected and what was given. Errors of the C API raise ArtifactError with
NAME_error_string's message. An artifact compiled with --weights external reads NAME.weights
beside the library (or the file given as weights=).
"""

import ctypes
import os
from collections import namedtuple

import numpy

__all__ = ["Artifact", "ArtifactError", "TensorSpec", "load"]

TensorSpec = namedtuple("TensorSpec", ["name", "dtype", "shape"])
TensorSpec.__doc__ = "An input or output of an artifact: its name, NumPy dtype and shape (a tuple)."

# The artifact's dtype codes (ONNX TensorProto numbering, NAME_DTYPE_* in NAME.h). NumPy has no
# bfloat16: such tensors are passed as uint16 arrays holding the raw bits. The narrow types are held one
# element per byte, not packed as ONNX stores them: int4 and int2 as int8 (sign-extended), uint4 and uint2
# as uint8, float8e4m3fn and float8e5m2 as uint8 raw bits, float4e2m1 as uint8 with the code in the low nibble.
_DTYPES = {
    1: numpy.dtype(numpy.float32),
    10: numpy.dtype(numpy.float16),
    16: numpy.dtype(numpy.uint16),
    3: numpy.dtype(numpy.int8),
    2: numpy.dtype(numpy.uint8),
    6: numpy.dtype(numpy.int32),
    7: numpy.dtype(numpy.int64),
    9: numpy.dtype(numpy.bool_),
    5: numpy.dtype(numpy.int16),
    4: numpy.dtype(numpy.uint16),
    22: numpy.dtype(numpy.int8),
    21: numpy.dtype(numpy.uint8),
    26: numpy.dtype(numpy.int8),
    25: numpy.dtype(numpy.uint8),
    17: numpy.dtype(numpy.uint8),
    19: numpy.dtype(numpy.uint8),
    23: numpy.dtype(numpy.uint8),
}


class ArtifactError(RuntimeError):
    """The artifact could not be loaded, created or run."""


class _TensorInfo(ctypes.Structure):
    # NAME_tensor_info of NAME.h: name, dtype, rank, shape (rank entries), size in bytes.
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("dtype", ctypes.c_int),
        ("rank", ctypes.c_int),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("bytes", ctypes.c_size_t),
    ]


class Artifact:
    """A compiled model loaded into this process, with one context (NAME_create) to run it.

    A context runs one call at a time; use one Artifact per thread to run concurrently.
    Call close() (or use `with`) to stop its worker threads before the object is collected.
    """

    def __init__(self, library, name=None, threads=1, weights=None):
        library = os.path.abspath(library)
        if name is None:
            base = os.path.basename(library)
            if not (base.startswith("lib") and base.endswith(".so")):
                raise ArtifactError(f"{library}: cannot tell the artifact name from the file name; pass name=")
            name = base[3:-3]
        self.name = name
        self.library = library
        self._context = None
        try:
            self._lib = ctypes.CDLL(library, mode=ctypes.RTLD_LOCAL)
        except OSError as error:
            raise ArtifactError(f"cannot load {library}: {error}") from None
        self._run = self._function("run", ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p])
        self._destroy = self._function("destroy", None, [ctypes.c_void_p])
        self._error_string = self._function("error_string", ctypes.c_char_p, [ctypes.c_int])
        self.inputs = self._table("inputs")
        self.outputs = self._table("outputs")
        self._create(threads, weights)

    def _symbol(self, suffix):
        try:
            return getattr(self._lib, f"{self.name}_{suffix}")
        except AttributeError:
            raise ArtifactError(
                f"{self.library} has no symbol {self.name}_{suffix}; is the name right, "
                "and was it compiled by a Sieve with this loader?"
            ) from None

    def _function(self, suffix, restype, argtypes):
        function = self._symbol(suffix)
        function.restype = restype
        function.argtypes = argtypes
        return function

    def _table(self, which):
        self._symbol(f"num_{which}")
        count = ctypes.c_int.in_dll(self._lib, f"{self.name}_num_{which}").value
        if not 0 <= count <= 4096:
            raise ArtifactError(f"{self.library} claims {count} {which}; it is damaged")
        self._symbol(which)
        entries = (_TensorInfo * count).in_dll(self._lib, f"{self.name}_{which}")
        specs = []
        for index, entry in enumerate(entries):
            dtype = _DTYPES.get(entry.dtype)
            if dtype is None or not 0 <= entry.rank <= 32:
                raise ArtifactError(f"{self.library}: entry {index} of {self.name}_{which} is malformed")
            shape = tuple(entry.shape[axis] for axis in range(entry.rank))
            if int(numpy.prod(shape, dtype=numpy.int64)) * dtype.itemsize != entry.bytes:
                raise ArtifactError(f"{self.library}: entry {index} of {self.name}_{which} has an inconsistent size")
            specs.append(TensorSpec(entry.name.decode("utf-8", "replace"), dtype, shape))
        return specs

    def _create(self, threads, weights):
        if not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive integer, got {threads!r}")
        if hasattr(self._lib, f"{self.name}_create_with_weights"):
            # --weights external: the weights file beside the library, wherever the folder has moved.
            path = weights or os.path.join(os.path.dirname(self.library), f"{self.name}.weights")
            create = self._function(
                "create_with_weights", ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
            )
            error = ctypes.c_int(0)
            context = create(os.fsencode(path), threads, ctypes.byref(error))
            if not context:
                raise ArtifactError(f"{self.name}_create_with_weights({path!r}) failed: {self._message(error.value)}")
        else:
            if weights is not None:
                raise ArtifactError(f"{self.name} has its weights embedded; drop weights=")
            create = self._function("create", ctypes.c_void_p, [ctypes.c_int])
            context = create(threads)
            if not context:
                raise ArtifactError(f"{self.name}_create({threads}) failed: out of memory, or threads could not start")
        self._context = context

    def _message(self, code):
        text = self._error_string(code)
        return text.decode("utf-8", "replace") if text else f"error {code}"

    def _checked(self, spec, value):
        array = value if isinstance(value, numpy.ndarray) else numpy.asarray(value)
        if array.dtype != spec.dtype:
            raise TypeError(f"input '{spec.name}': expected dtype {spec.dtype}, got {array.dtype}")
        if array.shape != spec.shape:
            raise ValueError(f"input '{spec.name}': expected shape {spec.shape}, got {array.shape}")
        return numpy.ascontiguousarray(array)

    def run(self, *arrays, **named):
        """Runs the model on its inputs, by position or by name; returns one new array per output, in order."""
        if self._context is None:
            raise ArtifactError(f"{self.name}: the context is closed")
        names = [spec.name for spec in self.inputs]
        if arrays and named:
            raise TypeError("pass the inputs either all by position or all by name")
        if named:
            unknown = sorted(set(named) - set(names))
            if unknown:
                raise TypeError(f"unknown input '{unknown[0]}'; the inputs are {names}")
            missing = [name for name in names if name not in named]
            if missing:
                raise TypeError(f"missing input '{missing[0]}'; the inputs are {names}")
            arrays = [named[name] for name in names]
        elif len(arrays) != len(names):
            raise TypeError(f"{self.name} takes {len(names)} input(s) {names}, got {len(arrays)}")
        inputs = [self._checked(spec, value) for spec, value in zip(self.inputs, arrays)]
        outputs = [numpy.empty(spec.shape, dtype=spec.dtype) for spec in self.outputs]
        input_pointers = (ctypes.c_void_p * max(len(inputs), 1))(*[array.ctypes.data for array in inputs])
        output_pointers = (ctypes.c_void_p * max(len(outputs), 1))(*[array.ctypes.data for array in outputs])
        code = self._run(self._context, input_pointers, output_pointers)
        if code != 0:
            raise ArtifactError(f"{self.name}_run failed: {self._message(code)}")
        return tuple(outputs)

    __call__ = run

    def close(self):
        """Stops the context's worker threads and frees it (NAME_destroy); run() fails afterwards."""
        if self._context is not None:
            self._destroy(self._context)
            self._context = None

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self.close()

    def __del__(self):
        if getattr(self, "_context", None) is not None:
            self.close()

    def __repr__(self):
        return f"Artifact({self.library!r}, inputs={self.inputs}, outputs={self.outputs})"


def load(threads=1, weights=None):
    """The artifact this file was written beside: libNAME.so in the same folder, NAME being this file's name."""
    folder = os.path.dirname(os.path.abspath(__file__))
    name = os.path.splitext(os.path.basename(__file__))[0]
    library = os.path.join(folder, f"lib{name}.so")
    if not os.path.exists(library):
        raise ArtifactError(f"no {library}: load() finds the library beside {name}.py; use Artifact(path) otherwise")
    return Artifact(library, name=name, threads=threads, weights=weights)
