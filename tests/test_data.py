import gzip
import shutil

import numpy as np
import pytest

from spikegate.data import (DataError, load_digits, load_mnist, read_idx, validate, MNIST_SHA256)


def test_mnist_loader_reads_and_verifies_the_shared_files(mnist_dir):
    ds = load_mnist(mnist_dir)
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    # class counts and mean pixel as documented for the canonical files
    assert np.bincount(ds.y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(ds.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert ds.x_train.mean() * 255 == pytest.approx(33.32, abs=0.01)
    assert ds.x_train.min() == 0 and ds.x_train.max() == 1


def test_raw_idx_files_work_too(mnist_dir, tmp_path):
    for name in MNIST_SHA256:
        (tmp_path / name).write_bytes(gzip.decompress((mnist_dir / f"{name}.gz").read_bytes()))
    assert load_mnist(tmp_path).x_test.shape == (10000, 784)


def test_corrupt_and_missing_files(mnist_dir, tmp_path):
    for name in MNIST_SHA256:
        shutil.copy(mnist_dir / f"{name}.gz", tmp_path / f"{name}.gz")
    raw = bytearray(gzip.decompress((tmp_path / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    raw[100] = (raw[100] + 1) % 10
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz: checksum mismatch"):
        load_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b\x08garbage")
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz: cannot read"):
        load_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"MNIST file t10k-labels-idx1-ubyte.gz \(or t10k-labels-idx1-ubyte\) missing in"):
        load_mnist(tmp_path)


def test_idx_header_checks(tmp_path):
    bad = tmp_path / "x"
    bad.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02")
    with pytest.raises(DataError, match="truncated IDX file"):
        read_idx(bad)
    bad.write_bytes(b"\x12\x34\x08\x01\x00\x00\x00\x01\x01")
    with pytest.raises(DataError, match="bad magic number"):
        read_idx(bad)


def test_digits_embedded():
    ds = load_digits()
    assert ds.x_train.shape == (1438, 64) and ds.x_test.shape == (359, 64)
    assert ds.x_train.max() == 1.0 and set(np.unique(ds.y_train)) == set(range(10))


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.x_train.__setitem__((0, 0), np.nan), "x_train: NaN or infinite pixel values"),
    (lambda d: d.x_test.__setitem__((1, 3), np.inf), "x_test: NaN or infinite pixel values"),
    (lambda d: d.x_train.__setitem__((0, 0), 2.0), r"x_train: pixel values in \[0, 2\]; allowed: \[0, 1\]"),
    (lambda d: d.y_train.__setitem__(4, 10), r"y_train: label 10 at index 4 outside the class range \[0, 9\]"),
    (lambda d: d.y_test.__setitem__(0, -1), r"y_test: label -1 at index 0 outside the class range \[0, 9\]"),
])
def test_validation_messages(mutate, message):
    ds = load_digits()
    mutate(ds)
    with pytest.raises(DataError, match=message):
        validate(ds, n_pixels=64, n_classes=10)


def test_wrong_image_size_for_the_model():
    with pytest.raises(DataError, match="images of 64 pixels; the model's input layer expects 784"):
        validate(load_digits(), n_pixels=784)


class _Response:
    def __init__(self, payload):
        self.payload = payload

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def read(self):
        return self.payload


def test_download_into_the_user_cache(mnist_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("SPIKEGATE_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    fetched = []

    def fake_urlopen(url, timeout):
        fetched.append(url)
        return _Response((mnist_dir / url.rsplit("/", 1)[1]).read_bytes())

    monkeypatch.setattr("urllib.request.urlopen", fake_urlopen)
    ds = load_mnist()
    assert len(fetched) == 4 and all(u.startswith("https://") for u in fetched)
    assert sorted(p.name for p in (tmp_path / "spikegate" / "mnist").glob("*.gz")) == sorted(
        f"{n}.gz" for n in MNIST_SHA256)
    assert ds.x_train.shape == (60000, 784)
    fetched.clear()
    load_mnist()                      # second time: from the cache, no download
    assert fetched == []


def test_offline_error_says_where_to_put_the_files(tmp_path, monkeypatch):
    monkeypatch.delenv("SPIKEGATE_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    def offline(url, timeout):
        raise OSError("network is unreachable")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(DataError) as err:
        load_mnist()
    msg = str(err.value)
    assert "could not be downloaded" in msg and "network is unreachable" in msg
    assert "--data-dir DIR" in msg and "SPIKEGATE_DATA_DIR" in msg and "\n" not in msg


def test_the_embedded_digits_are_scikit_learns_without_importing_it():
    from sklearn.datasets import load_digits

    from spikegate.data import digits_arrays

    pixels, labels = digits_arrays()
    ref = load_digits()
    np.testing.assert_array_equal(pixels, ref.data)
    np.testing.assert_array_equal(labels, ref.target)


def test_a_decoded_mnist_file_is_read_from_the_cache_and_a_damaged_copy_is_decoded_anew(mnist_dir, tmp_path,
                                                                                          monkeypatch):
    import spikegate.data as data_mod

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = mnist_dir / "t10k-labels-idx1-ubyte.gz"
    sha = data_mod.MNIST_SHA256["t10k-labels-idx1-ubyte"]
    first = data_mod.read_idx(path, sha)
    copies = list((tmp_path / "spikegate" / "mnist" / "decoded").iterdir())
    assert len(copies) == 1 and copies[0].stat().st_size == 10008
    monkeypatch.setattr(data_mod, "gunzip", lambda payload: (_ for _ in ()).throw(AssertionError("decoded again")))
    np.testing.assert_array_equal(data_mod.read_idx(path, sha), first)       # from the copy, verified
    copies[0].write_bytes(b"\0" * 10008)                                       # damaged: decoded anew
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    np.testing.assert_array_equal(data_mod.read_idx(path, sha), first)
    assert copies[0].read_bytes()[:4] == b"\0\0\x08\x01"
