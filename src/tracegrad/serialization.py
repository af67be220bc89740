"""``tracegrad.save`` / ``tracegrad.load``: checkpoints in the safetensors format, never pickle.

A checkpoint is one safetensors file (https://github.com/huggingface/safetensors): an 8-byte
little-endian header length, a JSON header naming each tensor's dtype, shape and byte range, then
the raw little-endian tensor bytes. Loading parses JSON and copies bytes; no code in the file can
run, unlike ``torch.load`` of a pickle.

Tensors are stored under dotted key paths, so a flat ``state_dict()`` keeps its key names exactly
and the file is interchangeable with ``safetensors.torch.save_file`` / ``load_file``. Whatever is
not a tensor (nesting, numbers, strings, lists, an optimizer's ``param_groups``) goes into the
header's ``__metadata__`` under ``"tracegrad.tree"``: a JSON description of the object in which
each tensor is a reference to its key. See docs/checkpoints.md.

``load`` also reads PyTorch's own ``torch.save`` files (a zip holding a pickle and the tensors'
bytes) when they hold only tensors, parameters, numbers, strings and containers -- what
``torch.load(weights_only=True)`` accepts. The pickle is read by an unpickler that knows those few
names and refuses every other one before anything runs, so such a file cannot run code either.
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import struct
import zipfile
from collections import OrderedDict

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import safetensors

from ._device import device as Device
from .nn.parameter import Parameter
from .tensor import Tensor

__all__ = ["save", "load"]

TREE_KEY = "tracegrad.tree"
_MAX_HEADER = 100_000_000  # safetensors' own limit on the JSON header

# safetensors dtype codes <-> numpy dtypes (numpy has no bfloat16; ml_dtypes provides JAX's).
_FROM_CODE = {
    "F64": np.dtype(np.float64),
    "F32": np.dtype(np.float32),
    "F16": np.dtype(np.float16),
    "BF16": np.dtype(ml_dtypes.bfloat16),
    "I64": np.dtype(np.int64),
    "I32": np.dtype(np.int32),
    "I16": np.dtype(np.int16),
    "I8": np.dtype(np.int8),
    "U8": np.dtype(np.uint8),
    "BOOL": np.dtype(np.bool_),
}
_ITEMSIZE = {"U16": 2, "U32": 4, "U64": 8, "C64": 8, "F8_E4M3": 1, "F8_E5M2": 1}


# --------------------------------------------------------------------------------------- saving
class _Flattener:
    """Walks an object, collecting tensors under unique dotted keys and describing the rest."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def key(self, path: list[str]) -> str:
        base = ".".join(path) or "tensor"
        key, n = base, 0
        while key in self.arrays:  # e.g. {"a.b": t, "a": {"b": u}}: the second is "a.b#1"
            n += 1
            key = f"{base}#{n}"
        return key

    def add(self, array: np.ndarray, path: list[str]) -> str:
        key = self.key(path)
        self.arrays[key] = np.ascontiguousarray(array).reshape(array.shape)  # keeps 0-d 0-d
        return key

    def walk(self, obj, path: list[str]):
        if isinstance(obj, Tensor):
            node = {"T": self.add(obj.numpy(force=True), path)}
            if obj.requires_grad:
                node["g"] = True
            return node
        if isinstance(obj, np.ndarray):
            if obj.dtype not in _FROM_CODE.values():
                raise TypeError(f"tracegrad.save: numpy dtype {obj.dtype} at {_where(path)}")
            return {"N": self.add(obj, path)}
        if isinstance(obj, np.generic):
            obj = obj.item()
        if obj is None or isinstance(obj, bool | int | str):
            return obj
        if isinstance(obj, float):
            return obj if math.isfinite(obj) else {"F": repr(obj)}
        if isinstance(obj, dict):
            items = []
            for k, v in obj.items():
                if isinstance(k, np.generic):
                    k = k.item()
                if not (k is None or isinstance(k, bool | int | float | str)):
                    raise TypeError(
                        f"tracegrad.save: dict keys must be str, int, float, bool or None; got "
                        f"{type(k).__name__} at {_where(path)}"
                    )
                items.append([k, self.walk(v, [*path, str(k)])])
            return {"O" if isinstance(obj, OrderedDict) else "D": items}
        if isinstance(obj, list | tuple):
            items = [self.walk(v, [*path, str(i)]) for i, v in enumerate(obj)]
            return {"U" if isinstance(obj, tuple) else "L": items}
        if hasattr(obj, "state_dict") and hasattr(obj, "load_state_dict"):
            raise TypeError(
                f"tracegrad.save cannot store a whole {type(obj).__name__} at {_where(path)}: "
                "PyTorch pickles the object with its class, and tracegrad never pickles. Save its "
                "state instead -- tracegrad.save(model.state_dict(), path) -- and restore it into "
                "a new instance: model.load_state_dict(tracegrad.load(path))"
            )
        raise TypeError(
            f"tracegrad.save stores tensors, numpy arrays, numbers, strings, None and "
            f"dicts/lists/tuples of them; got {type(obj).__name__} at {_where(path)}"
        )


def _where(path: list[str]) -> str:
    return "key " + repr(".".join(path)) if path else "the top level"


def save(obj, f, pickle_module=None, pickle_protocol=None, _use_new_zipfile_serialization=True):
    """Write ``obj`` (a tensor, or nested dicts/lists/tuples of tensors, numbers and strings, e.g.
    a ``state_dict()`` or ``{'model': ..., 'optimizer': ..., 'epoch': 3}``) to ``f``.

    ``f`` is a path or a binary file object. The file is safetensors: a flat dict of tensors keeps
    its key names, so PyTorch reads it with ``safetensors.torch.load_file``; anything else is
    described in the header metadata (docs/checkpoints.md). Tensors are saved as values (detached;
    ``requires_grad`` is remembered); a tensor reachable twice is stored twice. The pickle
    arguments are accepted for compatibility and ignored.
    """
    flat = _Flattener()
    tree = flat.walk(obj, [])
    metadata = {
        "format": "pt",
        "tracegrad.format": "1",
        TREE_KEY: json.dumps(tree, separators=(",", ":")),
    }
    specs = {
        k: safetensors.TensorSpec(
            dtype=a.dtype.name, shape=a.shape, data_ptr=a.ctypes.data, data_len=a.nbytes
        )
        for k, a in flat.arrays.items()
    }
    if isinstance(f, str | os.PathLike):
        safetensors.serialize_file(specs, os.fspath(f), metadata=metadata)
    else:
        f.write(bytes(safetensors.serialize(specs, metadata=metadata)))


# -------------------------------------------------------------------------------------- loading
def _fail(name: str, what: str, data: bytes = b""):
    # Before PyTorch 1.6, torch.save wrote a bare pickle: say so plainly.
    if data[:1] == b"\x80" and data[1:2] in b"\x02\x03\x04\x05":
        what = (
            "this looks like a legacy pickle checkpoint (torch.save before PyTorch 1.6, or "
            "_use_new_zipfile_serialization=False), which tracegrad does not read. Re-save it "
            "with a current PyTorch (torch.save(torch.load(path, weights_only=True), path)) or "
            "as safetensors (safetensors.torch.save_file)"
        )
    raise RuntimeError(f"tracegrad.load: {name}: {what}")


def _read(f) -> tuple[bytes, str]:
    if isinstance(f, str | os.PathLike):
        with open(f, "rb") as fh:
            return fh.read(), repr(os.fspath(f))
    if not hasattr(f, "read"):
        raise TypeError(
            f"tracegrad.load expects a path or a binary file object, got {type(f).__name__}"
        )
    data = f.read()
    if isinstance(data, str):
        raise TypeError("tracegrad.load needs a file opened in binary mode ('rb')")
    return bytes(data), repr(getattr(f, "name", "<file object>"))


def _parse_header(data: bytes, name: str) -> dict:
    """Check the framing before handing the bytes to safetensors, to say precisely what is wrong."""
    if len(data) < 8:
        _fail(
            name,
            f"the file is {len(data)} bytes long; a safetensors file starts with an 8-byte "
            "header length (empty or truncated file?)",
            data,
        )
    (n,) = struct.unpack("<Q", data[:8])
    if n > _MAX_HEADER:
        _fail(name, f"header length {n} is implausible: not a safetensors file, or corrupt", data)
    if n > len(data) - 8:
        _fail(
            name,
            f"the header should be {n} bytes but only {len(data) - 8} bytes follow its length: "
            "the file is truncated",
            data,
        )
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        _fail(name, f"the header is not valid JSON ({e}): not a safetensors file, or corrupt", data)
    if not isinstance(header, dict):
        _fail(name, "the header is not a JSON object: not a safetensors file, or corrupt")
    end = 0
    for key, info in header.items():
        if key == "__metadata__":
            continue
        try:
            end = max(end, int(info["data_offsets"][1]))
        except (TypeError, KeyError, IndexError, ValueError):
            _fail(name, f"the header entry for {key!r} has no valid data_offsets: corrupt file")
    if end > len(data) - 8 - n:
        _fail(
            name,
            f"the tensors need {end} bytes of data but only {len(data) - 8 - n} are present: "
            "the file is truncated",
        )
    return header


def _place(map_location):
    """A function putting a loaded JAX array where ``map_location`` says."""
    if isinstance(map_location, dict):  # {'cuda:0': 'cpu'}: the file records no device; use cpu's
        map_location = map_location.get("cpu")
    if map_location is None:
        return lambda a: a
    if isinstance(map_location, str | Device):
        dev = Device(map_location).jax_device()
        return lambda a: jax.device_put(a, dev)
    raise TypeError(
        "tracegrad.load: map_location must be None, a device or a device string (a safetensors "
        f"file records no source device), got {type(map_location).__name__}"
    )


def load(f, map_location=None, weights_only: bool = True, *, mmap=None, **pickle_load_args):
    """Read a checkpoint written by ``tracegrad.save``, by PyTorch's safetensors, or by
    ``torch.save`` (when it holds only tensors, parameters, numbers, strings and containers).

    ``f`` is a path or a binary file object. Returns what was saved: nested dicts/lists of
    tensors and numbers (a file without tracegrad's metadata, e.g. from
    ``safetensors.torch.save_file``, gives a flat dict of tensors). ``map_location`` is a device
    (string) to put the tensors on. Nothing outside that list is ever unpickled, so
    ``weights_only`` is always effectively True. A truncated, empty, pickled or otherwise corrupt file raises RuntimeError
    naming the file and the problem. ``pickle_load_args`` (PyTorch passes them to ``pickle.load``)
    raise ``NotImplementedError``: nothing is unpickled.
    """
    if pickle_load_args:
        raise NotImplementedError(
            f"load() got pickle arguments {sorted(pickle_load_args)}; tracegrad reads safetensors "
            "and never unpickles, so drop them"
        )
    data, name = _read(f)
    if data[:4] == b"PK\x03\x04":  # a zip: PyTorch's torch.save format
        return _load_torch_zip(data, name, _place(map_location))
    header = _parse_header(data, name)
    try:
        entries = safetensors.deserialize(data)
    except Exception as e:  # SafetensorError: overlapping/misaligned offsets, bad shapes, ...
        _fail(name, f"not a valid safetensors file ({e})")
    place = _place(map_location)
    arrays = {}
    for key, info in entries:
        code = info["dtype"]
        if code not in _FROM_CODE:
            _fail(name, f"tensor {key!r} has dtype {code}, which tracegrad does not support")
        arrays[key] = np.frombuffer(info["data"], _FROM_CODE[code]).reshape(info["shape"])
    metadata = header.get("__metadata__") or {}
    if TREE_KEY not in metadata:  # a plain safetensors file: the flat dict of tensors
        order = [k for k in header if k != "__metadata__"]
        return {k: Tensor._wrap(place(jnp.asarray(arrays[k]))) for k in order}
    try:
        tree = json.loads(metadata[TREE_KEY])
    except (TypeError, json.JSONDecodeError) as e:
        _fail(name, f"the {TREE_KEY!r} metadata is not valid JSON ({e}): corrupt file")
    return _Builder(arrays, place, name).build(tree)


class _Builder:
    """Rebuilds the saved object from the ``tracegrad.tree`` description and the tensors."""

    def __init__(self, arrays, place, name) -> None:
        self.arrays, self.place, self.name = arrays, place, name

    def array(self, key) -> np.ndarray:
        if not isinstance(key, str) or key not in self.arrays:
            _fail(self.name, f"the metadata refers to tensor {key!r}, which is not in the file")
        return self.arrays[key]

    def build(self, node):
        try:
            return self._build(node)
        except (TypeError, ValueError, AttributeError):
            _fail(self.name, f"the {TREE_KEY!r} metadata is malformed: corrupt file")

    def _build(self, node):
        if not isinstance(node, dict):
            return node
        if "T" in node:
            raw = self.array(node["T"])
            requires_grad = bool(node.get("g", False))
            if requires_grad and raw.dtype.kind != "f" and raw.dtype != _FROM_CODE["BF16"]:
                # tracegrad.save never writes this; a tensor that cannot have gradients must not
                # come back as one that requires them.
                _fail(
                    self.name,
                    f"tensor {node['T']!r} has dtype {raw.dtype} but is marked requires_grad; only "
                    "floating point tensors can require gradients: corrupt file",
                )
            return Tensor._wrap(self.place(jnp.asarray(raw)), requires_grad=requires_grad)
        (tag, value), *rest = node.items()
        if rest or tag not in ("N", "F", "D", "O", "L", "U"):
            _fail(self.name, f"unknown entry {str(node)[:80]} in the {TREE_KEY!r} metadata")
        if tag == "N":
            return self.array(value).copy()
        if tag == "F":
            return float(value)
        if tag in ("D", "O"):
            pairs = [(k, self._build(v)) for k, v in value]
            return OrderedDict(pairs) if tag == "O" else dict(pairs)
        items = [self._build(v) for v in value]
        return items if tag == "L" else tuple(items)


# ------------------------------------------------------------- PyTorch's torch.save zip files
# torch.save writes ``<name>/data.pkl`` (a pickle whose tensors are persistent references),
# ``<name>/data/<key>`` (each storage's raw bytes) and ``<name>/byteorder``. The unpickler below
# resolves only the globals a weights-only checkpoint uses; any other global raises before it is
# looked up, so no code from the file runs.
_STORAGE_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "BFloat16Storage": ml_dtypes.bfloat16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _StorageType:
    """Stands for ``torch.FloatStorage`` and its siblings: the dtype of a storage's bytes."""

    def __init__(self, dtype) -> None:
        self.dtype = np.dtype(dtype)


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, meta=None):
    itemsize = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=tuple(size), strides=tuple(s * itemsize for s in stride)
    )
    t = Tensor._wrap(jnp.asarray(np.array(view)))  # a copy: no tensor aliases the file's bytes
    t._requires_grad = bool(requires_grad) and t.dtype.is_floating_point
    return t


def _rebuild_parameter(data, requires_grad, hooks=None, state=None):
    return Parameter(data, requires_grad)


_ALLOWED = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch", "Size"): tuple,
    ("_codecs", "encode"): lambda text, encoding="latin1": text.encode(encoding),
    **{("torch", n): _StorageType(d) for n, d in _STORAGE_DTYPES.items()},
}


class _WeightsUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, read_storage) -> None:
        super().__init__(io.BytesIO(data))
        self.read_storage = read_storage

    def find_class(self, module: str, name: str):
        found = _ALLOWED.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(
                f"tracegrad.load: the checkpoint refers to {module}.{name}, which a weights-only "
                "load does not allow (it holds more than tensors, numbers, strings and "
                "containers; loading it would run code from the file). Save the state_dict in "
                "PyTorch and load that."
            )
        return found

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"tracegrad.load: unknown persistent reference {pid!r}")
        _, storage_type, key, _location, numel = pid
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"tracegrad.load: unknown storage type in {pid!r}")
        return self.read_storage(str(key), storage_type.dtype, int(numel))


def _load_torch_zip(data: bytes, name: str, place):
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            _fail(name, "a zip file without torch.save's data.pkl: not a PyTorch checkpoint")
        prefix = pickles[0][: -len("data.pkl")]
        order = "little"
        if prefix + "byteorder" in archive.namelist():
            order = archive.read(prefix + "byteorder").decode().strip()
        storages: dict = {}

        def read_storage(key: str, dtype: np.dtype, numel: int) -> np.ndarray:
            if key not in storages:
                raw = archive.read(f"{prefix}data/{key}")
                a = np.frombuffer(raw, dtype.newbyteorder("<" if order == "little" else ">"))
                storages[key] = a[:numel].astype(dtype, copy=False)
            return storages[key]

        obj = _WeightsUnpickler(archive.read(pickles[0]), read_storage).load()
    except (zipfile.BadZipFile, KeyError, EOFError, ValueError) as e:
        _fail(name, f"a damaged torch.save checkpoint ({type(e).__name__}: {e})")
    return _placed(obj, place)


def _placed(obj, place):
    """``obj`` with every tensor moved where ``map_location`` says."""
    if isinstance(obj, Tensor):
        obj._storage.array = place(obj._storage.array)
        return obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            obj[k] = _placed(v, place)
        return obj
    if isinstance(obj, list):
        return [_placed(v, place) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_placed(v, place) for v in obj)
    return obj
