"""`dispatchbus acls plan|diff|apply`: the catalogue's ACL plan, and the cluster brought to it."""

from __future__ import annotations

import argparse

from .common import add_connection_args, settings_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "acls", help="print the ACL plan, compare it with the cluster's ACLs, or create the missing ones",
        description="plan: the ACLs the catalogue grants (for this deployment's prefix, app id and PSAPs). "
        "diff: '+' for each one the cluster lacks, '-' for each ACL its principals have beyond the plan. "
        "apply: create the missing ones (idempotent) and print the diff; with --prune also delete the extra "
        "ones. diff and apply connect as the settings' principal, which needs ALTER and DESCRIBE on the cluster.",
    )
    p.add_argument("action", choices=["plan", "diff", "apply"])
    p.add_argument("--json", action="store_true", help="plan: print JSON (deploy/acls.json)")
    p.add_argument("--prune", action="store_true", help="apply: also delete ACLs beyond the plan")
    add_connection_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..kafka.admin import admin_client
    from ..ops import acls

    settings = settings_from_args(args)
    grants = acls.plan(settings)
    if args.action == "plan":
        if args.json:
            print(acls.plan_json(grants), end="")
        else:
            for line in acls.AclDiff(grants, ()).lines():
                print(line[2:])
        return 0
    admin = admin_client(settings)
    found = acls.apply(admin, grants, prune=args.prune) if args.action == "apply" else acls.diff(admin, grants)
    for line in found.lines():
        print(line)
    if args.action == "apply":
        pruned = len(found.extra) if args.prune else 0
        print(f"{len(found.missing)} created, {pruned} deleted, {len(grants) - len(found.missing)} already present"
              + (f"; {len(found.extra)} beyond the plan left (--prune deletes them)" if found.extra and not args.prune
                 else ""))
        return 0
    return 1 if found.missing or found.extra else 0
