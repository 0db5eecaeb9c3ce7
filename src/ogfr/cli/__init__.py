"""The ``ogfr`` command. One module per subcommand, each with ``add_arguments(parser)`` and ``run(args)``.

Subcommand modules keep heavy imports (torch, the model) inside ``run`` so that ``ogfr --help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

# name -> (module, one-line help). An explicit table: what you see here is every command there is.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("ogfr.cli.demo", "generate the synthetic benchmark, train a small OGFR and a baseline, report"),
    "synth": ("ogfr.cli.synth", "write the synthetic occluded Re-ID benchmark (Market-1501 layout)"),
    "parse": ("ogfr.cli.parse", "compute and cache part labels for a data set (occlusion label estimator)"),
    "train": ("ogfr.cli.train", "train OGFR (or an ablation) from a YAML preset"),
    "eval": ("ogfr.cli.eval", "evaluate a checkpoint on a query/gallery split"),
    "extract": ("ogfr.cli.extract", "extract student features of a data set split to a file"),
    "index": ("ogfr.cli.index", "index a gallery of person crops with a trained model"),
    "search": ("ogfr.cli.search", "search an index with occluded query images"),
    "show": ("ogfr.cli.show", "write figures: parsing, ranked, visibility, erasing"),
    "serve": ("ogfr.cli.serve", "a local web page to search an index (upload or click a query)"),
    "export": ("ogfr.cli.export", "export the student branch to ONNX"),
    "bench": ("ogfr.cli.bench", "measure parameters, FLOPs, speed and memory"),
    "ablate": ("ogfr.cli.ablate", "run the ablation study of the paper's tables on the synthetic benchmark"),
}


class CommandParser(argparse.ArgumentParser):
    """A subcommand's parser: options and positionals may be intermixed, so ``ogfr train --config c a=b
    --out X c=d`` takes both overrides (argparse's ``parse_intermixed_args``; plain parsing for a command
    with subcommands of its own, which intermixed parsing does not support)."""

    _intermixed = False

    def parse_known_args(self, args=None, namespace=None):
        if self._subparsers is not None or self._intermixed:
            return super().parse_known_args(args, namespace)
        self._intermixed = True  # parse_known_intermixed_args calls parse_known_args itself
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixed = False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ogfr", description="Occluded person re-identification with OGFR.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except (FileNotFoundError, ValueError, NotADirectoryError, PermissionError) as err:
        # Library code raises these with messages naming the path/argument; show them without a traceback.
        print(f"ogfr {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"ogfr {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
