r"""Brian2's random numbers as a value: capture them, restore them, give a classifier a stream of its own.

On the runtime device every random number comes from numpy's global generator; the Cython
target draws them through two buffers of 20,000 numbers (``rand``, ``randn``) that it refills
from numpy when they run out. ``brian2.get_device().get_random_state()`` keeps numpy's state
and the buffers' *positions* but not their contents (the buffers are C arrays behind a
pointer), so a restored state can replay different numbers. :func:`capture` copies the
contents too, and :func:`restore` writes them back: a captured state replays the same numbers,
bit for bit, in this process or (through :func:`to_arrays`/:func:`from_arrays`) in another.

:class:`RandomStream` is a classifier's own stream: its runs swap it in and out, so an explicit
``seed=`` gives the same spike trains however many classifiers run in the process, and in what
order.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from contextlib import contextmanager

import numpy as np

#: Numbers per Cython buffer (brian2.codegen.generators.cython_generator._BUFFER_SIZE).
BUFFER_SIZE = 20000
_BUFFERS = ("rand", "randn")


def _libc():
    if "_lib" not in _libc.__dict__:
        _libc._lib = ctypes.CDLL(ctypes.util.find_library("c"))
        _libc._lib.malloc.restype = ctypes.c_void_p
        _libc._lib.malloc.argtypes = [ctypes.c_size_t]
    return _libc._lib


def _runtime():
    from brian2 import get_device
    from brian2.devices.device import RuntimeDevice

    device = get_device()
    return device if isinstance(device, RuntimeDevice) else None


def capture() -> dict:
    """Brian2's random state now: numpy's generator, and each Cython buffer's position and contents."""
    device = _runtime()
    state = {"numpy": np.random.get_state()}
    for name in _BUFFERS:
        pointer = int(getattr(device, f"{name}_buffer")[0]) if device is not None else 0
        index = int(getattr(device, f"{name}_buffer_index")[0]) if device is not None else 0
        contents = np.zeros(BUFFER_SIZE)
        if pointer and index:   # at position 0 the next draw refills the buffer: its contents do not matter
            ctypes.memmove(contents.ctypes.data, pointer, contents.nbytes)
        state[name] = (index, contents)
    return state


def restore(state: dict) -> None:
    """Make Brian2 draw the numbers :func:`capture` saw next."""
    np.random.set_state(state["numpy"])
    device = _runtime()
    if device is None:
        return
    for name in _BUFFERS:
        index, contents = state[name]
        holder = getattr(device, f"{name}_buffer")
        if index:
            if not int(holder[0]):
                # the Cython code frees a buffer with free() when it refills it: allocate with malloc
                holder[0] = _libc().malloc(BUFFER_SIZE * 8)
            contents = np.ascontiguousarray(contents, dtype=np.float64)
            ctypes.memmove(int(holder[0]), contents.ctypes.data, BUFFER_SIZE * 8)
        getattr(device, f"{name}_buffer_index")[0] = index


def seeded(seed: int) -> dict:
    """The state ``brian2.seed(seed)`` sets, without changing the global one."""
    outer = capture()
    try:
        from brian2 import seed as brian_seed

        brian_seed(seed)
        return capture()
    finally:
        restore(outer)


def to_arrays(state: dict, prefix: str = "random_") -> dict:
    """``state`` as named numpy arrays (for an ``.npz`` file, no pickle)."""
    kind, keys, pos, has_gauss, cached = state["numpy"]
    if kind != "MT19937":
        raise ValueError(f"numpy's global generator is {kind}; expected MT19937")
    out = {f"{prefix}numpy_keys": np.asarray(keys, dtype=np.uint32),
           f"{prefix}numpy_scalars": np.array([pos, has_gauss, cached], dtype=np.float64)}
    for name in _BUFFERS:
        index, contents = state[name]
        out[f"{prefix}{name}_index"] = np.array(index, dtype=np.int64)
        out[f"{prefix}{name}_buffer"] = np.asarray(contents, dtype=np.float64)
    return out


def from_arrays(arrays, prefix: str = "random_") -> dict:
    """The state :func:`to_arrays` wrote; ``ValueError`` names the array that is missing or malformed."""
    def get(key, shape, dtype):
        if f"{prefix}{key}" not in arrays:
            raise ValueError(f"array {prefix}{key} missing")
        arr = np.asarray(arrays[f"{prefix}{key}"])
        if arr.shape != shape or not np.can_cast(arr.dtype, dtype, casting="same_kind"):
            raise ValueError(f"array {prefix}{key}: shape {arr.shape} of {arr.dtype}, expected {shape} of {dtype}")
        return arr.astype(dtype)

    keys = get("numpy_keys", (624,), np.uint32)
    pos, has_gauss, cached = get("numpy_scalars", (3,), np.float64)
    if not 0 <= pos <= 624 or has_gauss not in (0, 1):
        raise ValueError(f"array {prefix}numpy_scalars: position {pos:g} or flag {has_gauss:g} out of range")
    state = {"numpy": ("MT19937", keys, int(pos), int(has_gauss), float(cached))}
    for name in _BUFFERS:
        index = int(get(f"{name}_index", (), np.int64))
        if not 0 <= index < BUFFER_SIZE:
            raise ValueError(f"array {prefix}{name}_index: {index} outside [0, {BUFFER_SIZE - 1}]")
        state[name] = (index, get(f"{name}_buffer", (BUFFER_SIZE,), np.float64))
    return state


class RandomStream:
    """A classifier's own random numbers: :meth:`active` swaps them in for its runs and out after.

    Parameters
    ----------
    state : dict
        A state from :func:`capture` or :func:`seeded`.
    """

    def __init__(self, state: dict):
        self.state = state

    @classmethod
    def from_seed(cls, seed: int) -> "RandomStream":
        return cls(seeded(seed))

    @contextmanager
    def active(self):
        """Brian2 draws from this stream inside the block; the global stream is as it was after it."""
        outer = capture()
        restore(self.state)
        try:
            yield self
        finally:
            self.state = capture()
            restore(outer)
