"""``python -m drawnet`` runs the command line (see :mod:`drawnet.cli`)."""

from drawnet.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
