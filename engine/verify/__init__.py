"""Verification: proofs of dead rules, overlaps and gaps (z3)."""
