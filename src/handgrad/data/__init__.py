"""Data: bundled and generated data sets, CSV and Parquet files, splits, preprocessing, batches."""

from handgrad.data.datasets import Dataset, load_dataset
from handgrad.data.preprocessing import (IMPUTE_CHOICES, Categorical, DataWarning, Frame,
                                         Preprocessor, Standardizer, TargetScaler, minibatches,
                                         one_hot)

__all__ = ["Categorical", "DataWarning", "Dataset", "Frame", "IMPUTE_CHOICES", "Preprocessor",
           "Standardizer", "TargetScaler", "load_dataset", "minibatches", "one_hot"]
