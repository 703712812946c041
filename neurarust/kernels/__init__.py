"""Backends' kernels. Importing a backend package registers its kernels with ``ops``."""
