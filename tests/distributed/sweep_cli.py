"""``handgrad sweep`` as its own process for the Ctrl-C test (exit code 130 on interrupt, as
handgrad.cli.main gives)."""

import argparse
import sys

from handgrad.cli import sweep

if __name__ == "__main__":  # the embedded cluster's workers re-import this file
    parser = argparse.ArgumentParser()
    sweep.register(parser.add_subparsers())
    args = parser.parse_args(["sweep", *sys.argv[1:]])
    try:
        sys.exit(args.func(args))
    except KeyboardInterrupt:
        sys.exit(130)
