"""Pulumi entry point of the bootstrap project (see infra/bootstrap.py and the README)."""

from infra.bootstrap import main

main()
