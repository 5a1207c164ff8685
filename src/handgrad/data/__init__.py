"""Data: bundled and generated data sets, CSV files, splits, standardisation, mini-batches."""

from handgrad.data.datasets import Dataset, load_dataset
from handgrad.data.preprocessing import Standardizer, minibatches, one_hot

__all__ = ["Dataset", "Standardizer", "load_dataset", "minibatches", "one_hot"]
