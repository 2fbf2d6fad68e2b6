"""``python -m syncengine`` runs the command line."""

from ._entry import main

main()
