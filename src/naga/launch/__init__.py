"""Launching many runs of one function: task sources, local processes, Slurm and Dask."""

from naga.launch._options import SweepOptions

__all__ = ["SweepOptions"]
