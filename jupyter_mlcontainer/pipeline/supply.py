"""What the image is made of, for the people who must trust it: a lock whose every line carries
its wheel's sha256 (so pip installs those exact files or nothing), and a CycloneDX software bill
of materials of the installed distributions, the Debian packages added and the base image."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from ..shared.version import __version__

#: Where the bill of materials lies in the context and in the image; a label points to it.
SBOM_FILE = "sbom.cdx.json"
SBOM_PATH = f"/srv/{SBOM_FILE}"


def wheel_hashes(wheels: tuple | None) -> dict:
    """(canonical name, normalised version) → the wheel's sha256, for the wheels at hand."""
    hashes = {}
    for wheel in wheels or ():
        name, version, _, _ = parse_wheel_filename(Path(wheel).name)
        hashes[name, str(version)] = hashlib.sha256(Path(wheel).read_bytes()).hexdigest()
    return hashes


def lock_lines(packages: dict, hashes: dict) -> str:
    """`name==version --hash=sha256:…` per package when every package has its wheel's hash
    (pip's hash-checking mode is all or nothing); plain pins otherwise."""
    pins = sorted(packages.items())
    digests = [hashes.get(_key(name, version)) for name, version in pins]
    if not pins or None in digests:
        return "".join(f"{name}=={version}\n" for name, version in pins)
    return "".join(
        f"{name}=={version} --hash=sha256:{digest}\n"
        for (name, version), digest in zip(pins, digests, strict=True)
    )


def bill_of_materials(
    name: str, packages: dict, hashes: dict, system_packages, base_image: str
) -> dict:
    """A CycloneDX 1.5 document: no timestamp or random serial, so a context renders the same
    twice (the image's tag, a hash of the context, names it)."""
    components = [
        {
            "type": "library",
            "bom-ref": f"pkg:pypi/{canonicalize_name(package)}@{version}",
            "name": package,
            "version": version,
            "purl": f"pkg:pypi/{canonicalize_name(package)}@{version}",
            **(
                {"hashes": [{"alg": "SHA-256", "content": hashes[_key(package, version)]}]}
                if _key(package, version) in hashes
                else {}
            ),
        }
        for package, version in sorted(packages.items())
    ]
    components += [
        {
            "type": "library",
            "bom-ref": f"pkg:deb/debian/{package}",
            "name": package,
            "purl": f"pkg:deb/debian/{package}",
        }
        for package in sorted(system_packages)
    ]
    components.append(
        {
            "type": "container",
            "bom-ref": f"base-image:{base_image}",
            "name": base_image,
            "description": "the base image",
        }
    )
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "tools": {
                "components": [
                    {"type": "application", "name": "jupyter-mlcontainer", "version": __version__}
                ]
            },
            "component": {
                "type": "container",
                "bom-ref": f"image:{name}",
                "name": name,
            },
        },
        "components": components,
    }


def render_bill(bill: dict) -> str:
    return json.dumps(bill, indent=2, sort_keys=True) + "\n"


def requirements_of(bill: dict) -> list[str]:
    """`name==version` for each Python distribution a bill lists: what an audit checks."""
    return [
        f"{c['name']}=={c['version']}"
        for c in bill.get("components", ())
        if c.get("purl", "").startswith("pkg:pypi/")
    ]


def _key(name: str, version: str) -> tuple[str, str]:
    return canonicalize_name(name), str(Version(version))
