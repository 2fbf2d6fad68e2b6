"""``python -m app``: start the Sync Manager."""

from .main import main

raise SystemExit(main())
