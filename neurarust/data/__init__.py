"""Data loading, as ``torch.utils.data``: data sets, samplers, collation, the DataLoader with
parallel workers, image transforms, and real data sets bundled in installed wheels."""

from . import datasets, transforms
from ._collate import collate as collate
from ._collate import default_collate as default_collate
from ._collate import default_collate_fn_map as default_collate_fn_map
from ._collate import default_convert as default_convert
from ._worker import WorkerInfo as WorkerInfo
from ._worker import current_generator as current_generator
from ._worker import get_worker_info as get_worker_info
from .dataloader import DataLoader as DataLoader
from .dataset import ChainDataset as ChainDataset
from .dataset import ConcatDataset as ConcatDataset
from .dataset import Dataset as Dataset
from .dataset import IterableDataset as IterableDataset
from .dataset import Subset as Subset
from .dataset import TensorDataset as TensorDataset
from .dataset import random_split as random_split
from .datasets import Digits as Digits
from .datasets import MNIST5k as MNIST5k
from .sampler import BatchSampler as BatchSampler
from .sampler import RandomSampler as RandomSampler
from .sampler import Sampler as Sampler
from .sampler import SequentialSampler as SequentialSampler
from .sampler import SubsetRandomSampler as SubsetRandomSampler
from .sampler import WeightedRandomSampler as WeightedRandomSampler

__all__ = [
    "BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset", "Digits",
    "IterableDataset", "MNIST5k", "RandomSampler", "Sampler", "SequentialSampler", "Subset",
    "SubsetRandomSampler", "TensorDataset", "WeightedRandomSampler", "WorkerInfo", "collate",
    "current_generator", "datasets", "default_collate", "default_collate_fn_map",
    "default_convert", "get_worker_info", "random_split", "transforms",
]
