"""Argument checks every front end shares — the Numba package's NumPy and dask paths and the torch and JAX
packages: plain Python on strings, integers and shapes, so one module serves all four and is copied into
each generated package. The messages name the function, the argument and what it got."""
import numbers

REDUCTIONS = ("none", "mean", "sum")  # PyTorch's reductions ('batchmean' too where a loss allows it)


# What a loss's target (or input) may hold, by kind: (test, in words). The tests use comparison operators
# only, so they take NumPy, dask, torch and JAX arrays alike; None: any value (nan is marked by the caller).
VALUES = {
    "real": (None, "real numbers"),
    "pm1": (lambda t: (t == 1) | (t == -1), "labels -1 or +1"),
    "prob": (lambda t: (t >= 0) & (t <= 1), "probabilities in [0, 1]"),
    "nonneg": (lambda t: t >= 0, "non-negative numbers"),  # kl_div's distributions, poisson_nll_loss's counts
}


def check_reduction(fn, reduction, reductions=REDUCTIONS):
    if not isinstance(reduction, str) or reduction not in reductions:
        raise ValueError(f"{fn}: reduction must be one of {', '.join(reductions)}, got {reduction!r}")
    return reduction


def check_flag(fn, name, value):
    """A boolean keyword (kl_div's log_target, poisson_nll_loss's full): True or False (NumPy's bool too),
    nothing else."""
    if not (isinstance(value, bool) or type(value).__module__ == "numpy" and type(value).__name__ in ("bool_", "bool")):
        raise TypeError(f"{fn}: {name} must be True or False, got {value!r}")
    return bool(value)


def check_parts(fn, word, d, size, parts, shape=None, name="x"):
    """A layout in ``parts`` equal blocks (glu's halves) needs an axis length that is a multiple of it
    (PyTorch: "Halving dimension must be even")."""
    if size % parts:
        what = "even" if parts == 2 else f"a multiple of {parts}"
        found = f"{name} has shape {tuple(shape)}: length {size}" if shape is not None else f"it is {size}"
        raise ValueError(f"{fn}: the length of {word} {d} must be {what} ({fn} splits it into {parts} "
                         f"equal parts), but {found}")


def check_pieces(fn, size, pieces):
    """maxout's ``pieces``: a positive integer dividing the axis length (bools refused). Returns it as an int."""
    if isinstance(pieces, bool) or not isinstance(pieces, numbers.Integral) or pieces < 1 or size % pieces:
        raise ValueError(f"{fn}: pieces must be a positive integer dividing the axis length {size}, got {pieces!r}")
    return int(pieces)
