"""Outputs: findings JSON, terminal, HTML, CSV, STIX."""
