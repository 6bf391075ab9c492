"""Verify: the prover (symbolic first, then numeric at high precision, saying which) and the
``symact check`` stage that proves every identity, limit, extremum and derived kernel.
"""
