"""gankit: train, watch, evaluate and sample generative adversarial networks."""

from .api import LoadedGAN, TrainResult, evaluate, load, resume, train
from .errors import CheckpointError, ConfigError, DataError, GankitError, RunError
from .export import export_generator

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "GankitError",
    "LoadedGAN",
    "RunError",
    "TrainResult",
    "evaluate",
    "export_generator",
    "load",
    "resume",
    "train",
]
