"""JSON payload readers for `bosai replay`: each collector's pure mapping, tried in order."""
from __future__ import annotations

JSON_READERS: tuple = ()
