# mlw's Python compatibility layer (mlw's own code; see internal/pycompat).
#
# Debian 12 packages the Azure ML SDK (python3-azure, azure-ai-ml 1.4.0) but
# not one module it imports (pydash). mlw installs this directory and a
# one-line .pth file into the site-packages of the Python environments it
# makes (compute instance kernels, job runtimes, `mlw sdk venv`). The .pth
# file calls install(), which appends a finder to the END of sys.meta_path:
# Python consults it only after every normal way to import a module has
# failed, so a real installation (pip, Debian 13's python3-pydash) always
# wins and this module never shadows it.
"""Fallback imports for modules the Debian-packaged Azure ML SDK needs."""

import importlib.abc
import importlib.machinery
import os
import sys

# The top-level modules this layer can stand in for.
PROVIDES = ("pydash",)

_DIR = os.path.dirname(os.path.abspath(__file__))


class FallbackFinder(importlib.abc.MetaPathFinder):
    """Finds PROVIDES in this directory, for imports nothing else found."""

    def find_spec(self, name, path=None, target=None):
        if name not in PROVIDES:
            # Submodules (pydash.objects) are found by the normal path
            # finder through the package's __path__.
            return None
        return importlib.machinery.PathFinder.find_spec(name, [_DIR])


def install():
    """Appends the fallback finder to sys.meta_path (once)."""
    if not any(isinstance(f, FallbackFinder) for f in sys.meta_path):
        sys.meta_path.append(FallbackFinder())
