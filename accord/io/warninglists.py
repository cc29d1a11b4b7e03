"""MISP's warninglists, for importers and exporters: the lists live in services/warninglists.py
(lookup flags values with them too); this name stays for the io modules and their tests."""

from __future__ import annotations

from accord.services.warninglists import benign

__all__ = ["benign"]
