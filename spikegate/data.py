"""Data sets: scikit-learn's embedded 8x8 digits, MNIST from IDX files, and user ``.npz`` files.

Every loader returns a :class:`Dataset` with pixels scaled to [0, 1] and integer labels,
validated (finite pixels in range, labels in the class range, consistent shapes).

MNIST is read from a directory holding the four IDX files (``.gz`` or raw), looked up in
this order: the ``data.dir`` config key (``--data-dir`` on the command line), the
``SPIKEGATE_DATA_DIR`` environment variable, the user cache
(``$XDG_CACHE_HOME/spikegate/mnist``, by default ``~/.cache/spikegate/mnist``). When the
files are in none of them, they are downloaded into the cache if the machine is online.
The decompressed bytes are checked against the SHA-256 sums of the canonical files.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError
from .files import atomic_path
from .model.specs import DATA_SOURCES as SOURCES

#: SHA-256 of the decompressed canonical MNIST files.
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

#: Canonical mirrors serving ``<name>.gz``.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

ENV_DATA_DIR = "SPIKEGATE_DATA_DIR"


@dataclass
class Dataset:
    """Training and test images (rows, pixels in [0, 1]) with integer labels, and an optional
    validation split held out from the training images (never the test images)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    def __post_init__(self):
        if self.x_val is None:
            self.x_val = np.zeros((0,) + np.shape(self.x_train)[1:])
            self.y_val = np.zeros(0, dtype=np.int64)

    @property
    def n_pixels(self) -> int:
        return self.x_train.shape[1]

    def subset(self, n_train: int | None = None, n_test: int | None = None, n_validation: int = 0) -> "Dataset":
        """The first ``n_train`` training and ``n_test`` test samples; with ``n_validation``, the last
        ``n_validation`` training samples become the validation split, and training takes the first
        ``n_train`` of the others (all of them when None): the two never share an image."""
        n_all = len(self.x_train)
        avail = n_all - n_validation
        if n_validation and not 1 <= n_validation < n_all:
            raise DataError(f"data.n_validation = {n_validation}: must be in [1, {n_all - 1}] for data set "
                            f"{self.name!r} ({n_all} training images)")
        for key, n, top in (("data.n_train", n_train, avail), ("data.n_test", n_test, len(self.x_test))):
            if n is not None and not (1 <= n <= top):
                extra = f" (data.n_validation = {n_validation} of the {n_all} training images are held out)" \
                    if key == "data.n_train" and n_validation else ""
                raise DataError(f"{key} = {n}: must be in [1, {top}] for data set {self.name!r}{extra}")
        if not n_validation:
            return Dataset(self.name, self.x_train[:n_train], self.y_train[:n_train],
                           self.x_test[:n_test], self.y_test[:n_test], self.n_classes)
        n_train = avail if n_train is None else n_train
        return Dataset(self.name, self.x_train[:n_train], self.y_train[:n_train], self.x_test[:n_test],
                       self.y_test[:n_test], self.n_classes, self.x_train[avail:], self.y_train[avail:])


def float_labels(where: str, y: np.ndarray, n_classes: int) -> str:
    """The one line for labels of a float type (``y.astype(int)`` is the user's call, not ours)."""
    frac = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))
    first = f"e.g. {y[frac[0]].item()!r} at index {int(frac[0])}; " if len(frac) else ""
    return (f"{where}: float labels ({y.dtype}; {first}class labels are integers in [0, {n_classes - 1}]); "
            "convert whole numbers with y.astype(int)")


def validate(ds: Dataset, n_pixels: int | None = None, n_classes: int | None = None) -> Dataset:
    """Check shapes, pixel values and labels; raise :class:`DataError` naming the problem."""
    n_classes = ds.n_classes if n_classes is None else n_classes
    for part in ("train", "test") + (("val",) if len(ds.y_val) else ()):
        x, y = getattr(ds, f"x_{part}"), getattr(ds, f"y_{part}")
        where = f"{ds.name} x_{part}"
        if x.ndim != 2:
            raise DataError(f"{where}: shape {x.shape}; expected (n_samples, n_pixels)")
        if len(x) == 0 or x.shape[1] == 0:
            raise DataError(f"{where}: shape {x.shape}: no images; need at least one image of at least one pixel")
        for arr, name in ((x, where), (np.asarray(y), f"{ds.name} y_{part}")):
            if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)) \
                    or arr.dtype == np.bool_:
                raise DataError(f"{name}: values of type {arr.dtype}; allowed: real numbers (integers or floats)")
        if n_pixels is not None and x.shape[1] != n_pixels:
            raise DataError(f"{where}: images of {x.shape[1]} pixels; the model's input layer expects {n_pixels}")
        if len(y) != len(x):
            raise DataError(f"{ds.name} y_{part}: {len(y)} labels for {len(x)} images")
        if not np.all(np.isfinite(x)):
            raise DataError(f"{where}: NaN or infinite pixel values; allowed: finite values in [0, 1]")
        if x.size and (x.min() < 0 or x.max() > 1):
            raise DataError(f"{where}: pixel values in [{x.min():g}, {x.max():g}]; allowed: [0, 1]")
        if not np.issubdtype(np.asarray(y).dtype, np.integer) and len(y):
            raise DataError(float_labels(f"{ds.name} y_{part}", np.asarray(y), n_classes))
        y = np.asarray(y)
        bad = (y < 0) | (y >= n_classes)
        if np.any(bad):
            raise DataError(f"{ds.name} y_{part}: label {y[bad][0]:g} at index {int(np.flatnonzero(bad)[0])} "
                            f"outside the class range [0, {n_classes - 1}]")
    return Dataset(ds.name, ds.x_train.astype(float, copy=False), ds.y_train.astype(np.int64, copy=False),
                   ds.x_test.astype(float, copy=False), ds.y_test.astype(np.int64, copy=False), n_classes,
                   ds.x_val.astype(float, copy=False), ds.y_val.astype(np.int64, copy=False))


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's embedded 8x8 digits (pixels 0-16, labels), read from the file it ships:
    the same arrays as ``sklearn.datasets.load_digits()`` without importing scikit-learn (which
    takes ~2 s, longer than a compiled engine takes to start)."""
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    data = np.loadtxt(path, delimiter=",")
    return data[:, :-1], data[:, -1].astype(int)


def load_digits(test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """scikit-learn's 1,797 embedded 8x8 digits (no download); a fixed stratified-free split."""
    pixels, labels = digits_arrays()
    x = pixels / 16.0
    perm = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(test_fraction * len(x)))
    test, train = perm[:n_test], perm[n_test:]
    return Dataset("digits", x[train], labels[train], x[test], labels[test], 10)


#: The largest decompressed IDX file read or downloaded (MNIST's largest is 47 MB): a file
#: that inflates beyond it is refused before it can fill the memory (a "gzip bomb").
MAX_IDX_BYTES = 256 * 2 ** 20


def gunzip(payload: bytes, limit: int = MAX_IDX_BYTES) -> bytes:
    """Decompress a gzip stream, stopping with :class:`ValueError` once it exceeds ``limit`` bytes."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = inflater.decompress(payload, limit + 1)
    if len(out) > limit:
        raise ValueError(f"decompresses to more than {limit // 2 ** 20} MiB")
    if not inflater.eof:
        raise EOFError("compressed file ended before the end-of-stream marker was reached")
    return out


def read_idx(path: Path, expected_sha256: str | None = None) -> np.ndarray:
    """Read an IDX file (raw or ``.gz``) into a uint8 array, verifying its SHA-256 if given.

    A ``.gz`` file with a known digest is decompressed once: the verified bytes are kept in the
    user cache under the digest of the compressed file (``decoded/<sha256 of .gz>.idx``) and
    read from there next time, verified again (a decompression costs ~0.25 s of every MNIST
    run's start). A changed or damaged file has another digest, so it is decoded (and
    refused) as before; a damaged copy is decoded anew."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc}); replace the file with an intact copy") from None
    digest = None
    if raw[:2] == b"\x1f\x8b":
        raw, digest = _gunzip_cached(path, raw, expected_sha256)
    if expected_sha256 is not None:
        digest = digest or hashlib.sha256(raw).hexdigest()
        if digest != expected_sha256:
            raise DataError(f"{path}: checksum mismatch (SHA-256 {digest[:12]}..., expected "
                            f"{expected_sha256[:12]}...); the file is corrupt or not the canonical MNIST file")
    if len(raw) < 8 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path}: not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataError(f"{path}: truncated IDX file ({data.size} bytes of data for shape {dims})")
    return data.reshape(dims)


def _gunzip_cached(path: Path, payload: bytes, expected_sha256: str | None) -> tuple[bytes, str | None]:
    """The decompressed ``payload`` (from the user cache when this exact file was decoded before)
    and its SHA-256 where it was computed."""
    copy = cache_dir() / "decoded" / f"{hashlib.sha256(payload).hexdigest()}.idx" if expected_sha256 else None
    with contextlib.suppress(OSError):
        if copy is not None and copy.is_file():
            raw = copy.read_bytes()
            if hashlib.sha256(raw).hexdigest() == expected_sha256:
                return raw, expected_sha256
    try:
        raw = gunzip(payload)
    except (EOFError, ValueError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read ({exc}); replace the file with an intact copy") from None
    digest = hashlib.sha256(raw).hexdigest() if copy is not None else None
    if digest is not None and digest == expected_sha256:
        with contextlib.suppress(OSError, DataError):   # a cache that cannot be written: no copy, no harm
            copy.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(copy) as tmp:
                tmp.write_bytes(raw)
    return raw, digest


def _find_file(directory: Path, name: str) -> Path | None:
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.exists():
            return candidate
    return None


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "spikegate" / "mnist"


def _download(directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    errors = []
    for mirror in MNIST_MIRRORS:
        url = f"{mirror}{name}.gz"
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                payload = response.read()
        except OSError as exc:
            errors.append(f"{url}: {exc}")
            continue
        try:
            intact = hashlib.sha256(gunzip(payload)).hexdigest() == MNIST_SHA256[name]
        except (EOFError, ValueError, zlib.error) as exc:
            errors.append(f"{url}: not a usable gzip file ({exc})")
            continue
        if not intact:
            errors.append(f"{url}: checksum mismatch")
            continue
        target = directory / f"{name}.gz"
        with atomic_path(target) as tmp:
            tmp.write_bytes(payload)
        return target
    raise DataError(
        f"MNIST file {name}.gz is not in {directory} and could not be downloaded ({'; '.join(errors)}); "
        f"put the four MNIST IDX files (.gz or raw) in a directory and pass --data-dir DIR, "
        f"set data.dir or ${ENV_DATA_DIR}")


def mnist_directory(data_dir: str | os.PathLike | None = None) -> Path:
    """The directory MNIST is read from (see the module docstring for the search order)."""
    if data_dir:
        return Path(data_dir).expanduser()
    if os.environ.get(ENV_DATA_DIR):
        return Path(os.environ[ENV_DATA_DIR]).expanduser()
    return cache_dir()


def load_mnist(data_dir: str | os.PathLike | None = None, download: bool = True, n_train: int | None = None,
               n_test: int | None = None) -> Dataset:
    """MNIST (60,000 training and 10,000 test images, 28x28 flattened to 784, scaled to [0, 1]);
    only the first ``n_train`` and ``n_test`` images are scaled (all by default)."""
    directory = mnist_directory(data_dir)
    explicit = bool(data_dir) or bool(os.environ.get(ENV_DATA_DIR))
    if explicit and not directory.is_dir():
        raise DataError(f"MNIST directory {directory} does not exist; put the four IDX files there "
                        f"({', '.join(n + '.gz' for n in MNIST_SHA256)})")
    arrays = {}
    for name, sha in MNIST_SHA256.items():
        path = _find_file(directory, name)
        if path is None:
            if explicit or not download:
                raise DataError(f"MNIST file {name}.gz (or {name}) missing in {directory}; "
                                f"put the four MNIST IDX files there")
            path = _download(directory, name)
        arrays[name] = read_idx(path, sha)
    x_train = arrays["train-images-idx3-ubyte"].reshape(-1, 784)[:n_train] / 255.0
    x_test = arrays["t10k-images-idx3-ubyte"].reshape(-1, 784)[:n_test] / 255.0
    return Dataset("mnist", x_train, arrays["train-labels-idx1-ubyte"][:n_train].astype(np.int64),
                   x_test, arrays["t10k-labels-idx1-ubyte"][:n_test].astype(np.int64), 10)


def load_npz(path: str | os.PathLike, n_classes: int | None = None) -> Dataset:
    """A user data set: ``.npz`` with ``x_train, y_train, x_test, y_test`` (pixels in [0, 1])."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in f]
            if missing:
                raise DataError(f"{path}: missing arrays {', '.join(missing)}; need x_train, y_train, x_test, y_test")
            arrays = {k: np.asarray(f[k]) for k in ("x_train", "y_train", "x_test", "y_test")}
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: cannot read as .npz ({exc or type(exc).__name__})") from None
    for k in ("x_train", "x_test"):
        if arrays[k].ndim > 2:
            arrays[k] = arrays[k].reshape(len(arrays[k]), -1)
    if n_classes is None:
        labels = [arrays["y_train"], arrays["y_test"]]
        if any(not np.issubdtype(y.dtype, np.number) or np.iscomplexobj(y) or not np.all(np.isfinite(y))
               for y in labels):
            raise DataError(f"{path}: labels must be finite real numbers (y_train {labels[0].dtype}, "
                            f"y_test {labels[1].dtype})")
        n_classes = int(max(labels[0].max(initial=0), labels[1].max(initial=0))) + 1
    return Dataset(path.stem, arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"], n_classes)


def load(source: str, data_dir=None, path=None, n_classes=None, n_train=None, n_test=None) -> Dataset:
    """Load a data set by source name (``digits``, ``mnist`` or ``npz``); MNIST's images beyond
    ``n_train`` and ``n_test`` are not converted (subset the result with :meth:`Dataset.subset`)."""
    if source == "digits":
        return load_digits()
    if source == "mnist":
        for key, n, avail in (("data.n_train", n_train, 60000), ("data.n_test", n_test, 10000)):
            if n is not None and not 1 <= n <= avail:
                raise DataError(f"{key} = {n}: must be in [1, {avail}] for data set 'mnist'")
        return load_mnist(data_dir, n_train=n_train, n_test=n_test)
    if source == "npz":
        if not path:
            raise DataError("data.path: required for data.source = 'npz'")
        return load_npz(path, n_classes)
    raise DataError(f"data.source = {source!r}: unknown; allowed: {', '.join(SOURCES)}")
