# mlw's compatibility module for the part of pydash that azure-ai-ml uses.
#
# This is mlw's own code, not pydash. azure-ai-ml 1.4.0 (Debian 12's
# python3-azure) imports pydash, which Debian 12 does not package, so the
# SDK does not import on a stock Debian 12 machine. The SDK calls only
# pydash.get, pydash.omit and pydash.objects.set_; this module implements
# those three with pydash's path semantics. It is loaded only when no real
# pydash can be imported (see _mlw_compat/__init__.py): installing the real
# package (pip install "pydash<6", or Debian 13's python3-pydash) replaces it.
"""mlw's compatibility implementation of pydash.get, pydash.omit and pydash.objects.set_."""

from . import objects
from .objects import get, omit, set_

__all__ = ["get", "omit", "set_", "objects"]
__version__ = "0+mlw.compat"
