"""`python -m reprokit`: the same as the `reprokit` command."""
from .cli import main

main()
