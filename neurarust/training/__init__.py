"""Training-pipeline support for audited runs: run records next to checkpoints."""

from .run_record import RunRecord, file_sha256, hash_arrays

__all__ = ["RunRecord", "file_sha256", "hash_arrays"]
