"""The `robodine` command: one entry point, one subcommand per process or tool.

``__version__`` is the project's version, in this one place: the package metadata
(setup.cfg), `robodine --version`, `robodine status` and backup manifests read it.
"""

__version__ = "0.2.0"
