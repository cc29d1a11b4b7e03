"""Accord: a federated threat-intelligence exchange (STIX 2.1 over TAXII 2.1 under enforced agreements)."""

__version__ = "0.1.0"
