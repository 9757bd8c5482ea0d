"""CLI subcommands, one module each: ``add_arguments(parser, name)`` and ``run(args) -> int``."""
