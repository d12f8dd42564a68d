"""Data sources (IDX, NPZ in memory; LMDB, LevelDB streamed), the batch transform, the datasets to fetch."""

from .datasets import DATASETS, data_root, find_dataset, get_dataset
from .idx import read_idx, write_idx
from .npz import read_npz
from .sources import Records, open_source
from .transform import Transformer

__all__ = ["DATASETS", "Records", "Transformer", "data_root", "find_dataset", "get_dataset", "open_source",
           "read_idx", "read_npz", "write_idx"]
