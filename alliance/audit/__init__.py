"""Append-only, hash-chained audit log of clinical data access."""
