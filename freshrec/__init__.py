"""freshrec: recommender systems that never go stale.

Examples
--------
>>> import freshrec
>>> freshrec.__version__
'0.1.0'
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
