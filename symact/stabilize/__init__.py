"""Stabilize: textbook forms → numerically stable forms (elementwise rules, the row max shift and
max-scaling), each rewrite proven equal to the original.
"""
