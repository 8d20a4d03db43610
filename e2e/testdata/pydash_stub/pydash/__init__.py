# TEST-ONLY STAND-IN for the PyPI package "pydash" (pydash<6).
#
# azure-ai-ml 1.4.0 (Debian 12's python3-azure) imports pydash, which Debian
# does not package; CI cannot reach PyPI. The SDK uses only pydash.get,
# pydash.omit and pydash.objects.set_, which this module provides for mlw's
# end-to-end tests. Users install the real package: pip install "pydash<6".
"""Minimal test-only stand-in for pydash: get, omit, objects.set_."""

from . import objects
from .objects import get, omit, set_

__all__ = ["get", "omit", "set_", "objects"]
__version__ = "0.0.0+mlw-test-stub"
