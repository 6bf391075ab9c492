"""symact: activation functions and losses, derived and proven with SymPy, emitted as Numba kernels.

Pipeline (one module per stage): catalog → derive → prove → stabilize → printing → emit.
The generated kernels for the built-in catalog are importable as ``symact.kernels``.
"""
__version__ = "0.1.0"
