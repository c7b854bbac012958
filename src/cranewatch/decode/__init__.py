"""Packet bytes to columns (l2l4), then deep parsers for the few packets that matter."""
