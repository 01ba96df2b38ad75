"""`python -m headcode` runs the command line."""

from headcode.cli import main

main()
