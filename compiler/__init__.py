"""mlopsc: a declarative GitOps compiler for MLOps."""

__version__ = "0.1.0"
