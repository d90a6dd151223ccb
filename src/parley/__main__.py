"""Entry point for `python -m parley`."""

from parley.cli import main

main()
