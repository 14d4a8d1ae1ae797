"""`jupyter mlcontainer audit`: known vulnerabilities of what an image installs."""

from __future__ import annotations

import json

from ..engine import open_engine


def add_command(commands) -> None:
    command = commands.add_parser(
        "audit",
        help="check an image's Python packages for known vulnerabilities (pip-audit)",
        description=(
            "Read the image's bill of materials and check each Python distribution against the "
            "Python Packaging Advisory Database with pip-audit (which asks pypi.org). Exits 0 "
            "when nothing is known, 3 when a vulnerability is, 1 when the audit cannot run."
        ),
    )
    command.add_argument("source", metavar="NAME|IMAGE", help="instance, image name or reference")
    command.add_argument("--json", action="store_true", help="print the report as JSON")
    command.set_defaults(handler=run)


def run(args) -> int:
    from ..deploy.audit import audit_image

    report = audit_image(open_engine(), args.source)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(f"{report.image}: {report.checked} Python distributions checked")
        for finding in report.findings:
            fixed = ", ".join(finding.fixed_in) or "no fixed version yet"
            print(f"  {finding.package} {finding.version}: {finding.advisory} (fixed in {fixed})")
        for package, why in report.not_checked:
            print(f"  {package}: not checked ({why})")
        if not report.findings:
            print("  no known vulnerabilities in those checked")
    return 3 if report.findings else 0
