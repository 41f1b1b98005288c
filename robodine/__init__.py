"""The `robodine` command: one entry point, one subcommand per process or tool."""
