"""cranewatch: passive inventory and anomaly detection for port crane and terminal networks."""

__version__ = "0.1.0"
