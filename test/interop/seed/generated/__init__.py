"""Stands in for the `generated` package the seed 000 client imports (see lock_service.py)."""
