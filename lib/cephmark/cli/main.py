"""``cephmark`` command line: one sub-command per module in this package."""
from __future__ import annotations

import importlib
import logging
import sys
import warnings

from cephmark import __version__

COMMANDS = {
    "predict": "predict landmarks on images (files, folders, DICOM)",
    "finetune": "fine-tune new landmarks on the pretrained model",
    "evaluate": "MRE / SDR of a model against annotations",
    "analyze": "landmarks + ruler calibration + cephalometric measurements (JSON/CSV, report)",
}

USAGE = "usage: cephmark {%s} [options]   (cephmark COMMAND --help)\n\n" % ",".join(COMMANDS) + \
    "\n".join(f"  {k:10s} {v}" for k, v in COMMANDS.items())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    if argv[0] == "--version":
        print(f"cephmark {__version__}")
        return 0
    command = argv[0]
    if command not in COMMANDS:
        print(f"cephmark: unknown command {command!r}\n{USAGE}", file=sys.stderr)
        return 2
    warnings.filterwarnings("ignore", message=".*torch.jit.interface.*")
    module = importlib.import_module(f"cephmark.cli.{command}")
    args = module.build_parser().parse_intermixed_args(argv[1:])
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    from cephmark.cli.batch import exit_code, interrupt_handlers

    try:
        with interrupt_handlers():
            return int(module.run(args) or 0)
    except KeyboardInterrupt as exc:  # SIGINT / SIGTERM outside a batch loop
        print(f"\ncephmark {command}: interrupted ({exc or 'SIGINT'})", file=sys.stderr)
        return exit_code(exc)
    except (ValueError, OSError) as exc:  # FileNotFoundError included
        print(f"cephmark {command}: error: {exc}", file=sys.stderr)
        return 2
    except FloatingPointError as exc:  # training diverged (nothing of that epoch written)
        print(f"cephmark {command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
