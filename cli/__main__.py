"""`python -m headcode.cli` runs the command line."""

from headcode.cli import main

main()
