"""misp-stix, loaded on first use.

Importing it takes about a second (it pulls in the STIX 1 and 2 object models) and, through
the ``six`` compatibility module of its STIX 1 dependencies, raises ImportWarnings that say
nothing about Accord's input; they are silenced for that import only.
"""

from __future__ import annotations

import warnings
from typing import Any


def misp_stix() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImportWarning)
        import misp_stix_converter.misp_stix_mapping

    return misp_stix_converter


def messages(parser: Any) -> list[str]:
    """misp-stix's errors and warnings for one conversion, the first line of each (its errors
    carry a traceback after it)."""
    out = []
    for kind in ("errors", "warnings"):
        for values in (getattr(parser, kind, None) or {}).values():
            for message in values:
                text = str(message).strip()
                line = text.splitlines()[0] if text else text
                # some messages run straight into their traceback, on the same line
                out.append(line.split('  File "', 1)[0].rstrip().rstrip(":"))
    return out
