"""Measures of how close generated samples are to the target."""

from .toy import energy_distance, mode_coverage, sliced_wasserstein, wasserstein_1d

__all__ = ["energy_distance", "mode_coverage", "sliced_wasserstein", "wasserstein_1d"]
