"""`python -m protonet.cli`."""

from . import main

main()
