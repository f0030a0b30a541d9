"""The kubetwin command line: wires ``sim`` and ``validator`` together."""

__version__ = "0.1.0"
