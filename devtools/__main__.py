"""`python -m devtools ...`: the developer CLI (devtools/cli.py)."""

from devtools.cli import main

main()
