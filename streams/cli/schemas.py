"""`dispatchbus schemas generate|check|release`: keep schemas/ in step with the models."""

from __future__ import annotations

import argparse
import sys

from ..contract import schemas
from ..contract.compat import backward_incompatibilities


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schemas", help="generate, check or release the Avro contract")
    p.add_argument("action", choices=["generate", "check", "release"])
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "generate":
        for path in schemas.write_generated():
            print(f"wrote {path.name}")
        return 0
    if args.action == "release":
        problems = backward_incompatibilities()
        if problems:
            for p in problems:
                print(f"not BACKWARD compatible: {p}", file=sys.stderr)
            return 1
        for path in schemas.release():
            print(f"released {path.parent.name}/{path.name}")
        return 0
    ok = True
    folder = schemas.schema_dir()
    for name, text in schemas.generated_avsc().items():
        path = folder / f"{name}.avsc"
        if not path.exists() or path.read_text() != text:
            print(f"{path.name}: differs from the models; run 'dispatchbus schemas generate'", file=sys.stderr)
            ok = False
    for p in backward_incompatibilities():
        print(f"not BACKWARD compatible: {p}", file=sys.stderr)
        ok = False
    if ok:
        print("schemas match the models and are BACKWARD compatible with every release")
    return 0 if ok else 1
