"""footfall: customer-flow analytics from CCTV footage."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("footfall")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
