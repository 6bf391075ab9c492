"""Derive: gradients, Jacobians and per-row gradients from the one catalog definition (scalar,
vector, row loss), derivatives from the output, and the properties a reference page shows.
"""
