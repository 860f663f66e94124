"""``python -m drawnet`` runs the command line (see :mod:`drawnet.cli`)."""

from drawnet.cli import main

raise SystemExit(main())
