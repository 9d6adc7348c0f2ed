"""camctl's subcommands, one module per group; each command is
``async def (ctx, args) -> exit code``."""
