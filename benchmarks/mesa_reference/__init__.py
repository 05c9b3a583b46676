"""The model's rules in plain Mesa idiom (per-agent methods through ``shuffle_do``), for benchmarks."""

from benchmarks.mesa_reference.model import ReferenceModel

__all__ = ["ReferenceModel"]
