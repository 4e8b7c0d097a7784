"""
Build a stage's three Lambda packages exactly as they are uploaded: `make package`
(`python -m infra.aws.package --stage dev`).

    var/packages/<stage>/<stage>_site.zip, _webhook.zip, _sender.zip

These are what `zappa deploy <stage>_<function> --zip <that zip>` and `zappa update ...
--zip ...` upload (docs/DEPLOY.md), so what the rehearsal runs and what AWS runs are the
same bytes. Each is made by `zappa package` from a deploy virtualenv that holds only
requirements.txt and Zappa, where:

- every compiled distribution is the wheel pip chooses for Lambda's platform
  (`--platform manylinux2014_x86_64 --only-binary=:all: --python-version 3.11
  --implementation cp`), not the one it chose for this machine. pip picks wheels by the
  build machine's glibc, and this one's (2.36) let it pick a cryptography that needs
  GLIBC 2.34 while Lambda's python3.11 runtime (Amazon Linux 2) has 2.26: every site
  request was a 500. Zappa's own remedy (`use_precompiled_packages`) downloads
  replacements from its online lookup at package time and silently keeps the local wheel
  when that fails; zappa_settings.json turns it off, so the build does no network lookup
  beyond pip's own install;
- the libraries are byte-compiled beside their sources (`compileall -b`; see
  docs/DEPLOY.md, "Package from a clean, byte-compiled virtualenv").

Then every package is checked: each ELF file in it loads on Amazon Linux 2
(infra/aws/package_scan.py), and it is at most 20 MiB zipped. Any failure stops the build
with a non-zero exit. The virtualenv is cached outside the project (Zappa packages the
project directory) in ~/.cache/meetups-deploy-venv/<hash of its inputs>.

Options: --stage dev|prod, --functions site,webhook,sender, --out DIR, --venv-only (build
or reuse the deploy virtualenv and print its path: `zappa deploy` runs from it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from email.parser import Parser
from pathlib import Path

from infra.aws import package_scan

BASE_DIR = Path(__file__).resolve().parents[2]
ZAPPA_REQUIREMENT = "zappa==0.63.0"
LAMBDA_PLATFORM = ("--platform", "manylinux2014_x86_64", "--only-binary=:all:",
                   "--python-version", "3.11", "--implementation", "cp")
MAX_ZIPPED = 20 * 1024 * 1024
FUNCTIONS = ("site", "webhook", "sender")
VENV_ROOT = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "meetups-deploy-venv"
OUT_DIR = BASE_DIR / "var" / "packages"


class BuildError(RuntimeError):
    pass


def _python() -> str:
    # Zappa refuses a runtime that is not the packaging Python's version.
    found = shutil.which("python3.11")
    if found:
        return found
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    raise BuildError("python3.11 is needed to build the packages (the functions' runtime is python3.11)")


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    answer = subprocess.run(args, capture_output=True, text=True, **kwargs)
    if answer.returncode != 0:
        raise BuildError(f"{' '.join(map(str, args[:6]))} ... failed:\n{(answer.stderr or answer.stdout)[-3000:]}")
    return answer


def site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


def compiled_distributions(packages: Path) -> list[tuple[str, str]]:
    """(name, version) of every installed distribution whose wheel is not pure Python."""
    found = []
    for dist_info in sorted(packages.glob("*.dist-info")):
        wheel = dist_info / "WHEEL"
        metadata = dist_info / "METADATA"
        if not wheel.exists() or not metadata.exists():
            continue
        if Parser().parsestr(wheel.read_text()).get("Root-Is-Purelib", "true").strip().lower() == "true":
            continue
        meta = Parser().parsestr(metadata.read_text(errors="replace"), headersonly=True)
        found.append((meta["Name"], meta["Version"]))
    return found


def use_lambda_wheels(venv: Path) -> list[str]:
    """Replace each compiled distribution with the wheel built for Lambda's platform, at the
    same version. `--target` with `--upgrade` replaces each top-level directory whole, so
    nothing of the machine's wheel is left beside the new one."""
    packages = site_packages(venv)
    compiled = compiled_distributions(packages)
    if not compiled:
        return []
    pins = [f"{name}=={version}" for name, version in compiled]
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
          "--no-deps", "--upgrade", "--target", str(packages), *LAMBDA_PLATFORM, *pins])
    # --target puts console scripts under <target>/bin; the venv has its own.
    shutil.rmtree(packages / "bin", ignore_errors=True)
    return pins


def deploy_venv(*, log=print) -> Path:
    """The deploy virtualenv (built once per set of inputs, then reused)."""
    inputs = ((BASE_DIR / "requirements.txt").read_bytes() + ZAPPA_REQUIREMENT.encode()
              + " ".join(LAMBDA_PLATFORM).encode() + b"compileall -b")
    venv = VENV_ROOT / hashlib.sha256(inputs).hexdigest()[:12]
    if (venv / ".complete").exists():
        return venv
    if venv.exists():
        shutil.rmtree(venv)
    log(f"building the deploy virtualenv {venv} (requirements.txt + {ZAPPA_REQUIREMENT}, Lambda wheels) ...")
    _run([_python(), "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run([*pip, "-r", str(BASE_DIR / "requirements.txt"), ZAPPA_REQUIREMENT])
    replaced = use_lambda_wheels(venv)
    log(f"  Lambda-platform wheels: {', '.join(replaced) or 'none needed'}")
    # Byte-compile last, so the replaced libraries are compiled too. Errors are files that
    # do not compile on 3.11 (templates named .py in some libraries); they stay sources.
    subprocess.run([str(venv / "bin" / "python"), "-m", "compileall", "-b", "-q", "-j", "0",
                    str(site_packages(venv))], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (venv / ".complete").touch()
    return venv


def zappa_env(venv: Path) -> dict[str, str]:
    """Packaging makes no AWS call, but Zappa builds boto3 clients on start: give it a
    region and credentials that reach nothing."""
    # Only the machine's own variables: a project variable in the caller's environment
    # (FUNCTION_ROLE, STAGE, DATABASE_URL...) would change what the site's prebuild collects.
    keep = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "TERM", "TMPDIR", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR",
            "REQUESTS_CA_BUNDLE", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy")
    env = {k: v for k, v in os.environ.items()
           if k in keep or k.startswith(("LC_", "PIP_", "XDG_", "PYENV", "AWS_"))}
    scratch = scratch_dir()
    if scratch:
        env["TMPDIR"] = scratch
    env.update({
        "VIRTUAL_ENV": str(venv),
        "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '')}",
        "AWS_DEFAULT_REGION": env.get("AWS_DEFAULT_REGION", "eu-central-1"),
        "AWS_ACCESS_KEY_ID": env.get("AWS_ACCESS_KEY_ID", "packaging-makes-no-aws-call"),
        "AWS_SECRET_ACCESS_KEY": env.get("AWS_SECRET_ACCESS_KEY", "packaging-makes-no-aws-call"),
    })
    return env


SCRATCH_NEEDED = 1024 ** 3  # Zappa's two copies of the site package's inputs, with room to spare


def scratch_dir() -> str | None:
    """Where `zappa package` stages its copies: a RAM-backed directory when there is one with
    room. Zappa copies the whole virtualenv and the project into a temporary directory
    (twice), deletes what `exclude_glob` names, zips, then deletes it all: some 20,000 file
    creations and as many deletions per package, which is where a build spent its time (a
    webhook package: 34 s with TMPDIR on this machine's disk, 9 s on /dev/shm). The contents
    do not depend on it, except which library sources Zappa leaves out beside their .pyc
    (it keeps a .py copied after its .pyc, so that depends on the file system's order).
    PACKAGE_TMPDIR chooses another directory; empty means the system's default."""
    chosen = os.environ.get("PACKAGE_TMPDIR")
    if chosen is not None:
        return chosen or None
    shm = Path("/dev/shm")
    try:
        stat = os.statvfs(shm)
    except OSError:
        return None
    if stat.f_bavail * stat.f_frsize < SCRATCH_NEEDED or not os.access(shm, os.W_OK):
        return None
    return str(shm)


def settings_file(stage: str, out: Path = OUT_DIR, *, rendered_first: bool = True) -> Path:
    """The Zappa settings the stage is deployed with: the rendered
    var/stages/<stage>/zappa_settings.json (infra/stages/render.py) once the stack exists.
    Before that (tests, benchmarks), the root file's kinds as `<stage>_<kind>` stages:
    the package's contents do not depend on what only the stack knows (the environment,
    roles and domains are Lambda's configuration, not files in the zip)."""
    rendered = BASE_DIR / "var" / "stages" / stage / "zappa_settings.json"
    if rendered_first and rendered.exists():
        return rendered
    root_file = BASE_DIR / "zappa_settings.json"
    root = json.loads(root_file.read_text())
    if all(f"{stage}_{kind}" in root for kind in FUNCTIONS):
        return root_file
    # What infra/stages/render.py puts into the zip besides the kind's settings: the region,
    # and the project's STAGE (Zappa's WSGI handler would otherwise set it to "dev_site").
    from infra.stages import config as stage_config

    region = stage_config.load(stage).region
    synthesized = {**root, **{f"{stage}_{kind}": {"extends": kind, "aws_region": region,
                                                   "environment_variables": {"STAGE": stage}}
                              for kind in FUNCTIONS if kind in root}}
    path = out / stage / "packaging_settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(synthesized, indent=2))
    return path


def check_settings(settings: Path, stage_name: str) -> None:
    """Zappa's online wheel lookup must be off (see the module docstring)."""
    config = json.loads(settings.read_text())
    entry, seen = config.get(stage_name), set()
    value = None
    while entry is not None and value is None:
        value = entry.get("use_precompiled_packages")
        parent = entry.get("extends")
        if parent in seen:
            break
        seen.add(parent)
        entry = config.get(parent) if parent else None
    if value is not False:
        raise BuildError(f"{settings.name}: {stage_name} must set \"use_precompiled_packages\": false "
                         "(Zappa's online lookup would swap wheels, or silently not)")


def zappa_package(venv: Path, stage_name: str, output: Path, settings: Path) -> None:
    import fcntl

    check_settings(settings, stage_name)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.unlink(missing_ok=True)
    # One `zappa package` at a time per checkout: the site's prebuild collects static files
    # into the project's staticfiles/ (--clear), which two builds at once would garble.
    (BASE_DIR / "var").mkdir(exist_ok=True)
    with open(BASE_DIR / "var" / ".zappa-package.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _run([str(venv / "bin" / "zappa"), "package", stage_name, "-s", str(settings), "-o", str(output)],
             cwd=BASE_DIR, env=zappa_env(venv))
    if not output.exists():
        raise BuildError(f"zappa package {stage_name} wrote no {output}")


def check(zip_path: Path) -> list[str]:
    """What is wrong with one built package (empty when it may be uploaded)."""
    problems = []
    size = zip_path.stat().st_size
    if size > MAX_ZIPPED:
        problems.append(f"{zip_path.name} is {size / 2**20:.1f} MiB zipped, over the {MAX_ZIPPED // 2**20} MiB budget")
    _, elf_problems = package_scan.scan_zip(zip_path)
    problems.extend(str(p) for p in elf_problems)
    problems.extend(websocket_problems(zip_path))
    return problems


def websocket_problems(zip_path: Path) -> list[str]:
    """Zappa looks for `zappa.websocket` imports anywhere under the project directory,
    whatever `exclude` says, and makes the first module it finds the function's websocket
    handler (its WSGI handler then tries to import it on every cold start). This project
    has none: a module found is a copy of Zappa left in the checkout (an unzipped package, a
    virtualenv), which must go."""
    import re
    import zipfile

    with zipfile.ZipFile(zip_path) as archive:
        if "zappa_settings.py" not in archive.namelist():
            return []
        generated = archive.read("zappa_settings.py").decode("utf-8", "replace")
    found = re.search(r"^WEBSOCKET_HANDLER_MODULE\s*=\s*'([^']+)'", generated, re.M)
    if not found:
        return []
    return [f"{zip_path.name}: Zappa made {found.group(1)!r} its websocket handler: a copy of Zappa inside the "
            "project (remove it; nothing here uses websockets)"]


LAMBDA_CONFIGURATION_ONLY = {
    "aws_environment_variables", "role_arn", "vpc_config", "memory_size", "timeout_seconds", "s3_bucket",
    "certificate_arn", "tags", "lambda_concurrency", "ephemeral_storage", "num_retained_versions",
    "cloudwatch_log_level", "xray_tracing", "layers", "dead_letter_arn", "endpoint_configuration",
    "apigateway_enabled", "manage_roles", "keep_warm", "extends",
}
SKIPPED_IN_DIGEST = {".git", ".venv", "venv", "var", "staticfiles", "__pycache__", ".pytest_cache", ".hypothesis",
                     "node_modules"}


def stage_config(settings: Path, stage_name: str) -> dict:
    """The stage's settings with `extends` resolved (a key replaces the parent's, as in Zappa)."""
    config = json.loads(settings.read_text())
    entry = dict(config[stage_name])
    while entry.get("extends"):
        parent = dict(config[entry.pop("extends")])
        entry = {**parent, **entry}
    return entry


def inputs_digest(venv: Path, settings: Path, stage_name: str) -> str:
    """What a package is made of: the deploy virtualenv, the settings, and every project
    file Zappa would take (path, size, modification time), its `exclude` names and
    `exclude_glob` paths left out as Zappa leaves them out. Same digest, same package."""
    import fnmatch

    config = stage_config(settings, stage_name)
    names = list(config.get("exclude") or [])
    globs = list(config.get("exclude_glob") or [])

    def excluded(relative: str) -> bool:
        return (any(fnmatch.fnmatch(relative.rsplit("/", 1)[-1], n) for n in names)
                or any(fnmatch.fnmatch(relative, g) for g in globs))

    # Only the settings that reach the zip: a role, a size or the environment (what the
    # stack assigns, different in every rehearsal) do not change what is packaged.
    packaged = {k: v for k, v in config.items() if k not in LAMBDA_CONFIGURATION_ONLY}
    digest = hashlib.sha256(f"{venv}\n{stage_name}\n".encode() + json.dumps(packaged, sort_keys=True).encode())
    for root, dirs, files in os.walk(BASE_DIR):
        base = Path(root).relative_to(BASE_DIR).as_posix()
        prefix = "" if base == "." else base + "/"
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_IN_DIGEST and not excluded(prefix + d))
        for name in sorted(files):
            if excluded(prefix + name):
                continue
            path = Path(root) / name
            try:
                info = path.stat()
            except OSError:
                continue
            digest.update(f"{path.relative_to(BASE_DIR)}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def build(stage: str = "dev", functions: tuple[str, ...] = FUNCTIONS, out: Path = OUT_DIR, *,
          settings: Path | None = None, log=print, reuse: bool = True) -> list[Path]:
    """Build and check the stage's packages; raises BuildError naming every problem. A
    package whose inputs have not changed since it was built is kept (`reuse`)."""
    venv = deploy_venv(log=log)
    settings = settings or settings_file(stage, out)
    built, problems = [], []
    for function in functions:
        stage_name = f"{stage}_{function}"
        zip_path = out / stage / f"{stage_name}.zip"
        started = time.perf_counter()
        digest = inputs_digest(venv, settings, stage_name)
        stamp = zip_path.with_suffix(".inputs")
        if reuse and zip_path.exists() and stamp.exists() and stamp.read_text() == digest:
            log(f"{zip_path.name}: inputs unchanged since it was built, kept")
        else:
            stamp.unlink(missing_ok=True)
            zappa_package(venv, stage_name, zip_path, settings)
            stamp.write_text(digest)
        found = check(zip_path)
        problems.extend(found)
        log(f"{zip_path.relative_to(BASE_DIR) if zip_path.is_relative_to(BASE_DIR) else zip_path}: "
            f"{zip_path.stat().st_size / 2**20:.1f} MiB, {time.perf_counter() - started:.0f} s, "
            + ("OK" if not found else f"{len(found)} problem(s)"))
        built.append(zip_path)
    if problems:
        raise BuildError("the packages cannot be uploaded:\n  " + "\n  ".join(problems))
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build a stage's Lambda packages as they are uploaded.")
    parser.add_argument("--stage", default=os.environ.get("PACKAGE_STAGE", "dev"), choices=("dev", "prod"))
    parser.add_argument("--functions", default=",".join(FUNCTIONS))
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--settings", type=Path, help="Zappa settings file (default: the stage's rendered one)")
    parser.add_argument("--venv-only", action="store_true", help="build or reuse the deploy virtualenv, print its path")
    args = parser.parse_args(argv)
    try:
        if args.venv_only:
            print(deploy_venv(log=lambda line: print(line, file=sys.stderr)))
            return 0
        functions = tuple(f for f in args.functions.split(",") if f)
        unknown = set(functions) - set(FUNCTIONS)
        if unknown:
            parser.error(f"unknown function(s): {', '.join(sorted(unknown))}")
        build(args.stage, functions, args.out.resolve(), settings=args.settings)
    except BuildError as exc:
        print(f"package: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
