"""The version of handful, in a module of its own so that code inside the package never imports the package face."""

__version__ = "0.1.0"
