"""Audit rules: one module per rule code of the data contract."""
