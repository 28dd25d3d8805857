"""The ``warden`` console script: ``server`` starts the server, all else is the client CLI."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "server":
        from warden.composition import run_server

        return run_server(args[1:])
    from warden.cli.main import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
