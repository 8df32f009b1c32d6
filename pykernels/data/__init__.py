"""Data: datasets, batching and preprocessing (``torch.utils.data`` names).

    x, y = pk.data.load_digits()
    train, test = pk.data.random_split(pk.data.TensorDataset(x, y), [0.8, 0.2], seed=0)
    loader = pk.data.DataLoader(train, batch_size=64, shuffle=True, device="cpu")
"""

from .csv import CSVDataset
from .dataset import Dataset, Subset, TensorDataset, random_split
from .loader import DataLoader
from .standardize import Standardizer
from .synthetic import load_digits, make_blobs, make_circles, make_spiral, make_xor

__all__ = ["Dataset", "TensorDataset", "Subset", "CSVDataset", "DataLoader", "random_split",
           "Standardizer", "make_spiral", "make_circles", "make_xor", "make_blobs", "load_digits"]
