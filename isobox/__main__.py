"""`python -m isobox` is the `isobox` command."""

from isobox.cli import main

main()
