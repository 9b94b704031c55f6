"""Writes the gateway's OpenAPI document, as /api/ai/openapi.json serves it, to a file.

The document is built from the contracts, so no server is needed:

    .venv/bin/python clients/typescript/scripts/openapi.py    # writes its openapi.json
    .venv/bin/python clients/typescript/scripts/openapi.py -o out.json

`make client` runs it, then `npm run generate` for the types.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

CLIENT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(CLIENT.parents[1]))  # the repository, for a checkout not installed

from services.gateway.openapi import build_openapi  # noqa: E402


def render() -> str:
    """The document as committed: two-space indents, keys in the gateway's order."""
    return json.dumps(build_openapi(), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=CLIENT / "openapi.json")
    args = parser.parse_args()
    args.output.write_text(render(), encoding="utf-8")


if __name__ == "__main__":
    main()
