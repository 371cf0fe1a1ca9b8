"""gankit: train, watch, evaluate and sample generative adversarial networks."""

from .api import LoadedGAN, TrainResult, evaluate, load, resume, train
from .errors import CheckpointError, ConfigError, DataError, GankitError, RunError

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
    "load",
    "resume",
    "train",
]
