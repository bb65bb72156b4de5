"""The ``snncompile`` command: one subcommand per stage of the pipeline (DESIGN.md §7).

Each subcommand is a module of this package with ``add_parser(subparsers)``, which declares its options and sets
``run``, and ``run(args) -> int``, which does the work. Errors snncompile raises on purpose
(:class:`~snncompile.errors.SnnCompileError`) become one message on stderr (one line, or a header and one line per
problem when there are several) and the error's exit code; anything else is a bug and keeps its traceback.
SIGINT, SIGTERM and SIGHUP become an exception raised where the program is
(:func:`snncompile.interrupts.signals_interrupt`), so that every ``finally`` and context manager on the way out
runs (staging directories and temporary files removed, the Lava worker's session killed); the exit code is then
128 + the signal's number.

Building the parser imports nothing heavy (no PyTorch, scikit-learn, ONNX or Lava), so that ``--help`` and usage
errors answer at once: a command imports what it needs in ``run``, and help text that lists what only a heavy module
knows (the zoo, the data sets) is written by the command parser's ``complete_help(parser)`` when help is printed.
"""

import argparse
import signal
import sys
from importlib import metadata

from snncompile.errors import SnnCompileError
from snncompile.interrupts import signals_interrupt

from . import compile, energy, fit, inspect, simulate, sweep, train

COMMANDS = (train, inspect, compile, simulate, energy, fit, sweep)

DESCRIPTION = "Compile trained spiking neural networks for neuromorphic chips."
EPILOG = """example:
  snncompile train --arch mlf_dsresnet14 --width 8 --levels 3 --data digits --epochs 12 -o build/model.pt

Run `snncompile COMMAND --help` for the options of a command."""


class CommandParser(argparse.ArgumentParser):
    """The parser of one command. ``complete_help``, when a command sets it, fills in the help text that needs heavy
    modules (the parser and its actions, edited in place), once, just before the help is formatted."""

    complete_help = None

    def format_help(self) -> str:
        if self.complete_help is not None:
            complete, self.complete_help = self.complete_help, None
            complete(self)
        return super().format_help()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``snncompile`` with every subcommand registered."""
    parser = argparse.ArgumentParser(prog="snncompile", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {metadata.version('snncompile')}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True,
                                       parser_class=CommandParser)
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``snncompile`` with ``argv`` (default: the process arguments); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:  # --help, or a usage error argparse has already reported
        return exit.code
    try:
        with signals_interrupt():
            return args.run(args)
    except SnnCompileError as err:
        print(f"snncompile: error: {err}", file=sys.stderr)  # a list of problems keeps one line per problem
        return err.exit_code
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly
        sys.stderr.close()
        return 0
    except KeyboardInterrupt as interrupt:
        signum = getattr(interrupt, "signum", signal.SIGINT)
        print(f"snncompile: interrupted by {signal.Signals(signum).name}; nothing partial was left behind",
              file=sys.stderr)
        return 128 + signum
