"""Checks of what a classifier's Python API receives: one-line spikegate errors, never a raw
numpy or Brian2 one, and never a silent conversion (a float label truncated, a negative
projection index counted from the end).

Both backends call these on every public entry point: images, sample indices, labels,
memory gates, projection indices, weights and seeds.
"""
from __future__ import annotations

import numbers
import operator

import numpy as np

from ..data import float_labels
from ..errors import DataError, ParameterError
from ..units import check_number

#: Seeds are 32-bit unsigned integers (numpy's and Brian2's generators take them).
MAX_SEED = 2 ** 32 - 1


def check_seed(seed, where: str = "seed") -> int:
    """``seed`` as an int in [0, 2**32 - 1] (integers only, not bools or floats)."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= MAX_SEED:
        raise ParameterError(f"{where} = {seed!r}: expected an integer in [0, {MAX_SEED}]", where)
    return int(seed)


def check_integers(where: str, values, low: int, high: int, what: str = "indices") -> np.ndarray:
    """``values`` as a 1-D int64 array of integers in ``[low, high]``.

    Integer-valued floats are accepted (``np.arange(5.0)``); a fraction, NaN, infinity, a
    boolean or a string is refused, as is anything that is not one-dimensional.
    """
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise DataError(f"{where}: expected a one-dimensional list of {what}, got shape {arr.shape}")
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise DataError(f"{where}: values of type {arr.dtype}; allowed: integers")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise DataError(f"{where}: contains NaN or infinity; allowed: integers in [{low}, {high}]")
        frac = arr != np.round(arr)
        if frac.any():
            raise DataError(f"{where}: value {arr[frac][0].item()!r} is not an integer; allowed: integers in [{low}, {high}]")
    if arr.size and (arr.min() < low or arr.max() > high):
        bad = arr[(arr < low) | (arr > high)][0]
        raise DataError(f"{where}: value {bad.item()!r} outside [{low}, {high}]")
    return arr.astype(np.int64)


def check_samples(samples, n_images: int) -> np.ndarray:
    """Rows of the image bank, as int64."""
    return check_integers("samples", samples, 0, n_images - 1)


def check_labels(labels, n: int, n_classes: int) -> np.ndarray:
    """One class label per sample, integers in ``[0, n_classes - 1]`` (an integer type: a float,
    even a whole one, is refused rather than truncated)."""
    arr = np.asarray(labels)
    if np.issubdtype(arr.dtype, np.floating) and arr.ndim == 1 and arr.size:   # [] is float64 to numpy
        raise DataError(float_labels("labels", arr, n_classes))
    labels = check_integers("labels", labels, 0, n_classes - 1, what="class labels")
    if len(labels) != n:
        raise DataError(f"labels: {len(labels)} labels for {n} samples")
    return labels


def check_memgate(memgate, n: int) -> np.ndarray:
    """The mistake-memory gate of each presentation: 0/1 (or booleans), as floats."""
    if memgate is None:
        return np.zeros(n)
    gate = np.asarray(memgate)
    if gate.shape != (n,) or not (gate.dtype == bool or np.issubdtype(gate.dtype, np.number)):
        raise DataError(f"memgate: expected {n} values of 0 or 1, got shape {gate.shape} of {gate.dtype}")
    gate = gate.astype(float)
    if not np.all((gate == 0) | (gate == 1)):
        raise DataError("memgate: values must be 0 or 1")
    return gate


def check_projection(k, n_projections: int) -> int:
    """A projection index in ``[0, n_projections - 1]`` (no negative indices from the end)."""
    try:
        index = operator.index(k)
    except TypeError:
        index = None
    if index is None or isinstance(k, (bool, np.bool_)) or not 0 <= index < n_projections:
        raise ParameterError(f"projection k = {k!r}: expected an integer in [0, {n_projections - 1}]", "k")
    return index


def check_weights(k: int, weights, shape: tuple, dtype=float) -> np.ndarray:
    """A weight matrix of projection ``k``: the expected shape, finite real numbers."""
    arr = np.asarray(weights)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ParameterError(f"weights of projection {k}: values of type {arr.dtype}; allowed: real numbers")
    if arr.shape != tuple(shape):
        raise ParameterError(f"weights of projection {k}: shape {arr.shape}, expected {tuple(shape)}")
    arr = arr.astype(dtype)
    if not np.all(np.isfinite(arr)):
        raise ParameterError(f"weights of projection {k}: contain NaN or infinity; allowed: finite values")
    return arr


def check_images(images, n_in: int, dtype=float) -> np.ndarray:
    """The image bank: ``(n_images, n_in)`` finite pixel values in [0, 1]."""
    arr = np.asarray(images)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise DataError(f"images: values of type {arr.dtype}; allowed: real numbers in [0, 1]")
    arr = arr.astype(dtype, copy=False)
    if arr.ndim != 2 or arr.shape[1] != n_in:
        raise DataError(f"images: shape {arr.shape}, expected (n_images, {n_in})")
    if not np.all(np.isfinite(arr)):
        raise DataError("images: contain NaN or infinite pixel values; allowed: finite values in [0, 1]")
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        raise DataError(f"images: pixel values in [{arr.min():g}, {arr.max():g}]; allowed: [0, 1]")
    return arr


def check_learning_scale(scale, where: str) -> float:
    """A schedule's factor of every learning rate: a finite number >= 0 (0 freezes the weights)."""
    return float(check_number(where, scale, minimum=0))
