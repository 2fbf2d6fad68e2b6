"""``python -m syncengine`` runs the command line."""

from .cli import main

main()
