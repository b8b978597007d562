"""`python -m reprokit`: the same as the `reprokit` command."""
from reprokit.cli.main import main

main()
