"""`ogfr eval`: placeholder until its owner lands it (replaced, never shipped as is)."""

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    raise NotImplementedError("ogfr eval is not built yet")
