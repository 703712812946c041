"""The corpus of ``bench/mypy_plugin.py``: five models in two versions (``nr_models/``,
neurarust with ``neurarust.types`` annotations; ``torch_models/``, PyTorch annotated for
Pyrefly), feature probes (``probes/``), the single-literal mutation generator (``mutate``),
ground truth by running (``ground_truth``) and ``neurarust verify`` on mutants
(``verify_mutants``)."""
