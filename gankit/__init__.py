"""gankit: train, watch, evaluate and sample generative adversarial networks.

The API's names are imported on first use (PEP 562), so that `import gankit` and the commands
that need no networks (`gankit --help`, `presets`, `config --explain`) start without torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import CheckpointError, ConfigError, DataError, GankitError, RunError
from .version import __version__ as __version__  # the alias marks a re-export

if TYPE_CHECKING:
    from .api import TrainResult, evaluate, export_generator, resume, train
    from .loading import LoadedGAN, load
    from .studies import resume_study, study
    from .study_result import StudyResult

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "GankitError",
    "LoadedGAN",
    "RunError",
    "StudyResult",
    "TrainResult",
    "evaluate",
    "export_generator",
    "load",
    "resume",
    "resume_study",
    "study",
    "train",
]
_LAZY = {  # public name → the module that defines it
    **dict.fromkeys(("TrainResult", "evaluate", "export_generator", "resume", "train"), ".api"),
    **dict.fromkeys(("LoadedGAN", "load"), ".loading"),
    **dict.fromkeys(("resume_study", "study"), ".studies"),  # not a module named study: it would shadow the function
    "StudyResult": ".study_result",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value  # later look-ups are plain attribute reads
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
