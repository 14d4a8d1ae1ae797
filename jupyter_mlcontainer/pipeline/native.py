"""Native libraries: the system packages the wheels' compiled code needs in the image.

A wheel's extension modules name the shared libraries they link (ELF `DT_NEEDED`). Most are
vendored inside the wheel (auditwheel's `*.libs/`) or come with every Debian-based Python image
(glibc, libstdc++); the rest, such as `libgomp.so.1` for LightGBM, must be installed from Debian
in the final stage, or the model fails to import with `OSError: ... cannot open shared object
file`. Reading the wheels themselves tells before any image exists.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

from ..shared.config import cache_dir, write_cache_file
from ..shared.errors import DependencyError

#: Libraries every Debian-based Python image has (glibc, the GCC runtime, zlib, Python itself).
ALWAYS_PRESENT = frozenset(
    {
        "ld-linux-x86-64.so.2",
        "ld-linux-aarch64.so.1",
        "libc.so.6",
        "libm.so.6",
        "libdl.so.2",
        "libpthread.so.0",
        "librt.so.1",
        "libutil.so.1",
        "libresolv.so.2",
        "libgcc_s.so.1",
        "libstdc++.so.6",
        "libz.so.1",
    }
)

#: Shared library → the Debian (bookworm) package that ships it.
DEBIAN_PACKAGES = {
    "libgomp.so.1": "libgomp1",
    "libgfortran.so.5": "libgfortran5",
    "libquadmath.so.0": "libquadmath0",
    "libatomic.so.1": "libatomic1",
    "libopenblas.so.0": "libopenblas0",
    "libblas.so.3": "libblas3",
    "liblapack.so.3": "liblapack3",
    "libnuma.so.1": "libnuma1",
    "libffi.so.8": "libffi8",
    "libssl.so.3": "libssl3",
    "libcrypto.so.3": "libssl3",
    "libbz2.so.1.0": "libbz2-1.0",
    "liblzma.so.5": "liblzma5",
    "libzstd.so.1": "libzstd1",
    "libexpat.so.1": "libexpat1",
    "libsqlite3.so.0": "libsqlite3-0",
    "libuuid.so.1": "libuuid1",
    "libxml2.so.2": "libxml2",
    "libxslt.so.1": "libxslt1.1",
    "libjpeg.so.62": "libjpeg62-turbo",
    "libpng16.so.16": "libpng16-16",
    "libtiff.so.6": "libtiff6",
    "libwebp.so.7": "libwebp7",
    "libfreetype.so.6": "libfreetype6",
    "libfontconfig.so.1": "libfontconfig1",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libX11.so.6": "libx11-6",
    "libXext.so.6": "libxext6",
    "libXrender.so.1": "libxrender1",
    "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6",
    "libgeos_c.so.1": "libgeos-c1v5",
    "libproj.so.25": "libproj25",
    "libgdal.so.32": "libgdal32",
    "libsndfile.so.1": "libsndfile1",
    "libcurl.so.4": "libcurl4",
    "libpq.so.5": "libpq5",
    "libodbc.so.2": "libodbc2",
    "libpython3.11.so.1.0": "libpython3.11",
    "libpython3.13.so.1.0": "libpython3.13",
}

_SHARED_OBJECT = re.compile(r"\.so(\.\d+)*$")
#: Debian's rule for package names (Debian Policy 5.6.1).
_DEBIAN_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")


def wheel_libraries(wheel: Path) -> dict:
    """{"needed": [...], "provided": [...]} for one wheel, cached beside it (wheels never change)."""
    cached = wheel.with_name(wheel.name + ".libraries.json")
    if cached.is_file():
        return json.loads(cached.read_text(encoding="utf-8"))
    from elftools.common.exceptions import ELFError
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile

    needed, provided = set(), set()
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            if not _SHARED_OBJECT.search(member):
                continue
            provided.add(member.rsplit("/", 1)[-1])
            try:
                elf = ELFFile(io.BytesIO(archive.read(member)))
                sections = [s for s in elf.iter_sections() if isinstance(s, DynamicSection)]
            except ELFError:
                continue  # a file named like a library that is not one
            for section in sections:
                for tag in section.iter_tags():
                    if tag.entry.d_tag == "DT_NEEDED":
                        needed.add(tag.needed)
                    elif tag.entry.d_tag == "DT_SONAME":
                        provided.add(tag.soname)
    result = {"needed": sorted(needed), "provided": sorted(provided)}
    write_cache_file(cached, json.dumps(result))
    return result


def base_libraries(engine, image: str) -> set[str]:
    """The shared libraries `image` provides, from its `ldconfig -p`, cached per image id. None
    are known of an image the engine does not have yet (the build pulls it)."""
    if not engine.image_exists(image):
        return set()
    cached = cache_dir("shared-libraries", engine.image_id(image).split(":")[-1][:16])
    if cached.is_file():
        return set(cached.read_text().split())
    output = engine.run_command(image, ["ldconfig", "-p"])
    libraries = {line.split()[0] for line in output.splitlines()[1:] if "=>" in line}
    write_cache_file(cached, "\n".join(sorted(libraries)) + "\n")
    return libraries


def missing_libraries(wheels: Iterable[Path], base_libraries: Iterable[str]) -> dict:
    """Library → the wheels that need it, for what neither the wheels nor the base provide."""
    needed: dict[str, set] = {}
    provided = set(ALWAYS_PRESENT) | set(base_libraries)
    for wheel in wheels:
        libraries = wheel_libraries(Path(wheel))
        provided.update(libraries["provided"])
        for library in libraries["needed"]:
            needed.setdefault(library, set()).add(_distribution(Path(wheel)))
    return {lib: sorted(who) for lib, who in sorted(needed.items()) if lib not in provided}


def system_packages(missing: dict, requested: Iterable[str] = ()) -> list[str]:
    """The Debian packages that provide `missing`, plus the ones the user asked for.

    A library no known package provides is an error naming it and its wheels, unless the user
    named packages (`--system-package`): then they are trusted, and the image's own check proves
    them when it loads the model."""
    requested = sorted(set(requested))
    invalid = [name for name in requested if not _DEBIAN_NAME.match(name)]
    if invalid:
        raise DependencyError(
            f"Not a Debian package name: {', '.join(map(repr, invalid))}.",
            "Give package names as apt knows them, e.g. --system-package libgomp1.",
        )
    packages = set(requested)
    unknown = {}
    for library, wheels in missing.items():
        if library in DEBIAN_PACKAGES:
            packages.add(DEBIAN_PACKAGES[library])
        else:
            unknown[library] = wheels
    if unknown and not requested:
        listed = "; ".join(f"{lib} (needed by {', '.join(w)})" for lib, w in unknown.items())
        raise DependencyError(
            f"The image would lack shared libraries that the wheels need: {listed}.",
            "Name the Debian package that provides each with --system-package NAME "
            "(`apt-file search LIBRARY` tells which), or use a base image that has them.",
        )
    return sorted(packages)


def _distribution(wheel: Path) -> str:
    return wheel.name.split("-", 1)[0]
