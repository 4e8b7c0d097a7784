"""The Lambda packages are built for Lambda's platform and checked before upload (issue 10,
Build 1 and fix 1): every ELF file in them loads on Amazon Linux 2, each is at most 20 MiB.

The packages are built once per session with `infra.aws.package` (the same code as
`make package`); the deploy virtualenv is cached, so this costs about a minute.
"""

from __future__ import annotations

import json
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from infra.aws import package, package_scan

VENV_SITE_PACKAGES = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("packages")
    # The root file's kinds, not a rehearsal's rendered settings that may be lying in var/.
    settings = package.settings_file("dev", out, rendered_first=False)
    paths = package.build("dev", out=out, settings=settings, log=lambda line: None)
    return {p.stem.split("_", 1)[1]: p for p in paths}


def host_only_shared_object() -> Path:
    """A compiled file of this machine's own wheels that Amazon Linux 2 could not load."""
    for candidate in sorted(VENV_SITE_PACKAGES.rglob("*.so")):
        _, needs = package_scan.needs_of(candidate.read_bytes())
        if package_scan.too_new(needs):
            return candidate
    pytest.skip("no wheel on this machine needs a newer glibc than Amazon Linux 2's; nothing to show")


def test_the_scan_fails_on_a_package_carrying_this_machines_cryptography(tmp_path):
    # The case first: this machine's cryptography (GLIBC 2.34 here), then any other.
    rust = VENV_SITE_PACKAGES / "cryptography" / "hazmat" / "bindings" / "_rust.abi3.so"
    so = rust if package_scan.too_new(package_scan.needs_of(rust.read_bytes())[1]) else host_only_shared_object()
    member = str(so.relative_to(VENV_SITE_PACKAGES))
    zip_path = tmp_path / "dev_site.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return None\n")
        archive.write(so, member)
    count, problems = package_scan.scan_zip(zip_path)
    assert count == 1
    assert problems and all(p.member == member for p in problems)
    assert any(p.need.startswith("GLIBC_2.") or p.need.startswith("GLIBCXX_") for p in problems)
    assert package.check(zip_path)  # the build refuses it
    assert package_scan.main([str(zip_path)]) == 1


def test_the_limits_are_amazon_linux_2s():
    # python3.11 runs on Amazon Linux 2: glibc 2.26, libstdc++ of GCC 7.3 (6.0.24).
    assert package_scan.AMAZON_LINUX_2["GLIBC"] == (2, 26)
    assert package_scan.AMAZON_LINUX_2["GLIBCXX"] == (3, 4, 24)
    assert package_scan.too_new([("libc.so.6", "GLIBC_2.26"), ("libstdc++.so.6", "GLIBCXX_3.4.24")]) == []
    assert package_scan.too_new([("libc.so.6", "GLIBC_2.27")]) == ["GLIBC_2.27 (from libc.so.6)"]
    assert package_scan.too_new([("libstdc++.so.6", "GLIBCXX_3.4.25")]) == ["GLIBCXX_3.4.25 (from libstdc++.so.6)"]
    assert package_scan.too_new([("libc.so.6", "GLIBC_PRIVATE")]) == []


def test_a_package_over_the_size_budget_is_refused(tmp_path):
    import os

    zip_path = tmp_path / "dev_sender.zip"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("noise.bin", os.urandom(package.MAX_ZIPPED + 1024))
    assert any("over the 20 MiB budget" in p for p in package.check(zip_path))


def test_zappas_online_wheel_lookup_is_off_for_every_function():
    root = json.loads((package.BASE_DIR / "zappa_settings.json").read_text())
    for kind in package.FUNCTIONS:
        name = kind if kind in root else f"dev_{kind}"
        package.check_settings(package.BASE_DIR / "zappa_settings.json", name)  # raises if not off


def test_the_built_packages_pass_the_scan_and_the_size_budget(built):
    assert set(built) == {"site", "webhook", "sender"}
    for kind, zip_path in built.items():
        count, problems = package_scan.scan_zip(zip_path)
        assert problems == [], f"{kind}: {problems}"
        assert count > 0  # psycopg's libpq at least: the scan looked at something
        assert zip_path.stat().st_size <= package.MAX_ZIPPED
        assert package.check(zip_path) == []


def test_the_compiled_wheels_in_the_packages_are_lambdas_platform(built):
    def tags(zip_path: Path, dist: str) -> list[str]:
        with zipfile.ZipFile(zip_path) as archive:
            name = next(n for n in archive.namelist() if n.startswith(f"{dist}-") and n.endswith(".dist-info/WHEEL"))
            return Parser().parsestr(archive.read(name).decode()).get_all("Tag")

    for zip_path, dist in ((built["site"], "cryptography"), (built["site"], "psycopg_binary"),
                           (built["sender"], "psycopg_binary")):
        wheel_tags = tags(zip_path, dist)
        assert wheel_tags and all("manylinux2014_x86_64" in t or "manylinux_2_17_x86_64" in t for t in wheel_tags), wheel_tags


def test_a_package_with_a_stray_websocket_handler_is_refused(tmp_path):
    """Zappa picks up any copy of itself in the checkout as a websocket handler (seen when
    the rehearsal unzipped packages inside var/): the build refuses such a package."""
    zip_path = tmp_path / "dev_site.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("zappa_settings.py", "WEBSOCKET_HANDLER_MODULE='var.rehearse.functions.x.handler'\nDEBUG=False\n")
    assert any("websocket handler" in p for p in package.check(zip_path))
    clean = tmp_path / "dev_webhook.zip"
    with zipfile.ZipFile(clean, "w") as archive:
        archive.writestr("zappa_settings.py", "DEBUG=False\n")
    assert package.check(clean) == []



def test_zappa_stages_its_copies_where_package_tmpdir_says(monkeypatch, tmp_path):
    """`zappa package` copies the virtualenv and the project twice into TMPDIR: a RAM-backed
    directory when there is one (it was most of a build's time on disk), PACKAGE_TMPDIR when
    set, the system's default when it is empty."""
    from infra.aws import package

    monkeypatch.setenv("PACKAGE_TMPDIR", str(tmp_path))
    assert package.zappa_env(tmp_path / "venv")["TMPDIR"] == str(tmp_path)
    monkeypatch.setenv("PACKAGE_TMPDIR", "")
    monkeypatch.setenv("TMPDIR", "/var/tmp")
    assert package.zappa_env(tmp_path / "venv")["TMPDIR"] == "/var/tmp"
    monkeypatch.delenv("PACKAGE_TMPDIR")
    monkeypatch.setattr(package, "SCRATCH_NEEDED", 1)
    assert package.scratch_dir() in ("/dev/shm", None)  # None only where /dev/shm is missing or read-only
