"""Hosts, flows and identities, reconciled with the site file."""
