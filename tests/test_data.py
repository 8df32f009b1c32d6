"""pk.data: datasets, splits, loaders, CSV import, standardisation and the
synthetic sets."""

import numpy as np
import pytest

import pykernels as pk
from pykernels import data


def _dataset(n=10):
    x = np.arange(n * 3, dtype=np.float64).reshape(n, 3)
    return data.TensorDataset(x, np.arange(n, dtype=np.int64))


def test_tensor_dataset_indexing_and_length():
    ds = _dataset(7)
    assert len(ds) == 7
    x, y = ds[3]
    np.testing.assert_array_equal(x, [9, 10, 11])
    assert y == 3
    xb, yb = ds.__getitems__([4, 1])
    np.testing.assert_array_equal(yb, [4, 1])
    with pytest.raises(ValueError, match="argument 1"):
        data.TensorDataset(np.zeros((3, 2)), np.zeros(4))


@pytest.mark.parametrize("lengths,counts", [([3, 7], [3, 7]), ([0.3, 0.7], [3, 7]),
                                            ([0.34, 0.33, 0.33], [4, 3, 3]), ([1.0, 0.0], [10, 0])])
def test_random_split_counts_and_fractions(lengths, counts):
    parts = data.random_split(_dataset(10), lengths, seed=1)
    assert [len(p) for p in parts] == counts
    seen = np.concatenate([p.indices for p in parts])
    np.testing.assert_array_equal(np.sort(seen), np.arange(10))


def test_random_split_fractions_round_like_pytorch():
    torch = pytest.importorskip("torch")
    for n, fractions in [(10, [0.34, 0.33, 0.33]), (101, [0.8, 0.1, 0.1]), (7, [0.5, 0.5])]:
        ours = [len(p) for p in data.random_split(_dataset(n), fractions, seed=0)]
        theirs = [len(p) for p in torch.utils.data.random_split(range(n), fractions)]
        assert ours == theirs


def test_random_split_bad_lengths():
    with pytest.raises(ValueError, match="lengths"):
        data.random_split(_dataset(10), [3, 3])
    with pytest.raises(ValueError, match="lengths"):
        data.random_split(_dataset(10), [0.5, 0.6])


def test_random_split_seeded_and_manual_seed_reproducible():
    a = data.random_split(_dataset(50), [25, 25], seed=3)[0].indices
    b = data.random_split(_dataset(50), [25, 25], seed=3)[0].indices
    np.testing.assert_array_equal(a, b)
    pk.manual_seed(11)
    c = data.random_split(_dataset(50), [25, 25])[0].indices
    pk.manual_seed(11)
    d = data.random_split(_dataset(50), [25, 25])[0].indices
    np.testing.assert_array_equal(c, d)


@pytest.mark.parametrize("n,batch,drop_last,expected", [(10, 3, False, [3, 3, 3, 1]), (10, 3, True, [3, 3, 3]),
                                                        (9, 3, False, [3, 3, 3]), (2, 5, True, [])])
def test_loader_batches(n, batch, drop_last, expected):
    loader = data.DataLoader(_dataset(n), batch_size=batch, drop_last=drop_last)
    sizes = [len(xb) for xb, _ in loader]
    assert sizes == expected and len(loader) == len(expected)


def test_loader_shuffle_seeded_new_order_each_epoch():
    ds = _dataset(40)
    loader = data.DataLoader(ds, batch_size=8, shuffle=True, seed=5)
    epoch1 = np.concatenate([yb for _, yb in loader])
    epoch2 = np.concatenate([yb for _, yb in loader])
    assert sorted(epoch1) == list(range(40)) and sorted(epoch2) == list(range(40))
    assert not np.array_equal(epoch1, epoch2)
    again = data.DataLoader(ds, batch_size=8, shuffle=True, seed=5)
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in again]), epoch1)
    # rows stay paired with their labels
    for xb, yb in loader:
        np.testing.assert_array_equal(xb[:, 0], yb * 3)


def test_loader_device_and_dtype():
    loader = data.DataLoader(_dataset(4), batch_size=4, device="cuda-emu", dtype=np.float32)
    xb, yb = next(iter(loader))
    assert isinstance(xb, np.ndarray) and xb.dtype == np.float32 and xb.flags.c_contiguous
    assert yb.dtype == np.int64
    with pytest.raises(ValueError, match="device"):
        data.DataLoader(_dataset(4), device="tpu")
    with pytest.raises(ValueError, match="batch_size"):
        data.DataLoader(_dataset(4), batch_size=0)


def test_loader_over_plain_dataset_collates():
    class Squares(data.Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.array([i, i * i], np.float32), i

    xb, yb = next(iter(data.DataLoader(Squares(), batch_size=5)))
    np.testing.assert_array_equal(xb[:, 1], [0, 1, 4, 9, 16])
    np.testing.assert_array_equal(yb, np.arange(5))


def test_csv_dataset(tmp_path):
    images = tmp_path / "images.csv"
    labels = tmp_path / "labels.csv"
    images.write_text("p0,p1,p2,p3\n0,255,51,102\n255,0,0,0\n10,20,30,40\n")
    labels.write_text("3\n1\n0\n")  # no header in this one
    ds = data.CSVDataset(images, labels, shape=(1, 2, 2))
    assert len(ds) == 3 and ds.num_classes == 4
    x, y = ds[0]
    assert x.dtype == np.float32 and x.shape == (1, 2, 2)
    np.testing.assert_allclose(x.ravel(), [0, 1, 0.2, 0.4], rtol=1e-6)
    assert y == 3


def test_csv_dataset_bad_input(tmp_path):
    images = tmp_path / "images.csv"
    labels = tmp_path / "labels.csv"
    images.write_text("0,256\n1,2\n")
    labels.write_text("label\n1\n0\n")
    with pytest.raises(ValueError, match="images file"):
        data.CSVDataset(images, labels)
    images.write_text("0,255\n1,2\n3,4\n")
    with pytest.raises(ValueError, match="3 rows but labels file has 2"):
        data.CSVDataset(images, labels)
    images.write_text("0,255\n1,2\n")
    with pytest.raises(ValueError, match="shape"):
        data.CSVDataset(images, labels, shape=(3,))


def test_standardizer_fits_training_split_only():
    rng = np.random.default_rng(0)
    train = rng.normal(5.0, 2.0, (200, 3)).astype(np.float32)
    train[:, 2] = 7.0  # constant feature: divided by 1
    test = rng.normal(-5.0, 1.0, (50, 3)).astype(np.float32)
    s = data.Standardizer().fit(train)
    z = s.transform(train)
    np.testing.assert_allclose(z[:, :2].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z[:, :2].std(0), 1, atol=1e-5)
    np.testing.assert_array_equal(z[:, 2], 0)
    zt = s.transform(test)
    np.testing.assert_allclose(zt, (test - train.mean(0, dtype=np.float64)) / s.std, rtol=1e-5, atol=1e-5)
    assert zt.mean() < -2  # the test split is not re-centred with its own statistics
    np.testing.assert_allclose(s.inverse_transform(zt), test, rtol=1e-5, atol=1e-4)
    ds = s.transform(data.TensorDataset(test, np.zeros(50, np.int64)))
    np.testing.assert_allclose(ds.arrays[0], zt)


def test_standardizer_on_subsets():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    train, test = data.random_split(data.TensorDataset(x, np.zeros(10, np.int64)), [6, 4], seed=0)
    s = data.Standardizer().fit(train)
    np.testing.assert_allclose(s.mean, x[train.indices].mean(0))
    assert len(s.transform(test)) == 4
    with pytest.raises(RuntimeError):
        data.Standardizer().transform(x)


@pytest.mark.parametrize("make", [data.make_spiral, data.make_circles, data.make_xor, data.make_blobs])
def test_synthetic_shapes_and_seeds(make):
    x, y = make(101, noise=0.1, seed=4)
    assert x.shape == (101, 2) and x.dtype == np.float32 and y.shape == (101,) and y.dtype == np.int64
    assert set(np.unique(y)) == {0, 1}
    x2, y2 = make(101, noise=0.1, seed=4)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(make(101, noise=0.1, seed=5)[0], x)


def test_synthetic_geometry_without_noise():
    x, y = data.make_circles(400, seed=0)
    r = np.hypot(x[:, 0], x[:, 1])
    assert np.all(r[y == 1] <= 2.5 + 1e-6) and np.all(r[y == 0] >= 3.5 - 1e-6)
    x, y = data.make_xor(400, seed=0)
    np.testing.assert_array_equal(y, (x[:, 0] * x[:, 1] >= 0))
    assert np.all(np.abs(x) >= 0.3 - 1e-6)
    x, y = data.make_spiral(200, seed=0)
    np.testing.assert_allclose(x[y == 0], -x[y == 1], atol=1e-6)  # arms half a turn apart
    assert np.hypot(x[:, 0], x[:, 1]).max() < 5
    x, y = data.make_blobs(2000, seed=0)
    np.testing.assert_allclose(x[y == 0].mean(0), [2, 2], atol=0.1)
    np.testing.assert_allclose(x[y == 1].mean(0), [-2, -2], atol=0.1)
    x, y = data.make_spiral(90, n_classes=3, seed=0)
    assert np.bincount(y).tolist() == [30, 30, 30]


def test_synthetic_bad_arguments():
    with pytest.raises(ValueError, match="n_classes"):
        data.make_spiral(10, n_classes=1)
    with pytest.raises(ValueError, match="noise"):
        data.make_xor(10, noise=-1)


def test_load_digits():
    pytest.importorskip("sklearn", reason="load_digits needs scikit-learn (the test extra installs it)")
    x, y = data.load_digits()
    assert x.shape == (1797, 64) and x.dtype == np.float32 and y.shape == (1797,)
    assert x.min() == 0 and x.max() == 1 and set(np.unique(y)) == set(range(10))
