"""``python -m accord.cli`` runs the ``accord`` command (used by tests that spawn it)."""

from accord.cli.main import main

main()
