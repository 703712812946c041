"""Runnable examples; ``neurarust train`` runs :mod:`neurarust.examples.mnist`."""
