"""
Lambda package size and cold import time of each function: `python -m bench.package_size`.

Zappa packages the active virtualenv, so packaging from the development venv would carry
pytest, moto, playwright and the rest. This benchmark does what a deploy should do:

  1. a clean virtualenv with requirements.txt and Zappa only (cached in
     ~/.cache/meetups-bench-venv, rebuilt when requirements.txt changes), its libraries
     byte-compiled beside their sources (`compileall -b`, see compile_sourceless);
  2. `zappa package <stage>` from it, for each function of the dev stage (prod packages the
     same files), with fake credentials and a moto server, since packaging needs no AWS;
  3. zipped and unzipped size of each package (Lambda: 50 MB zipped upload, 250 MB
     unzipped; the goal here is at most 20 MiB zipped);
  4. each handler's cold import, from the unzipped package, in a fresh interpreter without
     writing bytecode (Lambda's /var/task is read-only), with the stage's environment from
     zappa_settings.json, the stage's secrets in moto, and boto3 from outside the package (as
     Lambda's runtime provides it). Median of several runs.

Options: --runs N (default 5), --stages dev_site,dev_webhook,dev_sender, --keep (keep the
packages in var/bench-packages/).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
# Outside the project: Zappa walks the project looking for zappa.websocket imports (and
# would find the venv's own Zappa there), and packages what it finds.
VENV_ROOT = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "meetups-bench-venv"
OUT_DIR = BASE_DIR / "var" / "bench-packages"
MIB = 1024 * 1024
ZAPPA_REQUIREMENT = "zappa==0.63.0"
# What Lambda's Python runtime already has, and the packages leave out.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")

# What each function does before it can answer its first event.
COLD_IMPORTS = {
    "site": (
        "import handler\n"
        "handler.LambdaHandler(settings_name='zappa_settings')\n"  # Zappa's handler: Django's WSGI app
    ),
    "webhook": (
        "import handlers.webhook as m\n"
        "m._setup_django()\n"
    ),
    "sender": (
        "import handlers.sender as m\n"
        "import django, os\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'project.settings')\n"
        "django.setup()\n"
        "import telegram\n"
    ),
}


def _python() -> str:
    return "python3.11" if shutil.which("python3.11") else sys.executable


def clean_venv() -> Path:
    """A virtualenv with only what runs in Lambda (and Zappa, which packages it)."""
    wanted = (BASE_DIR / "requirements.txt").read_bytes() + ZAPPA_REQUIREMENT.encode()
    key = hashlib.sha256(wanted).hexdigest()[:12]
    venv = VENV_ROOT / key
    if (venv / ".complete").exists():
        return venv
    if VENV_ROOT.exists():
        shutil.rmtree(VENV_ROOT)
    print(f"building a clean virtualenv in {venv} (requirements.txt + {ZAPPA_REQUIREMENT}) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(BASE_DIR / "requirements.txt"), ZAPPA_REQUIREMENT], check=True)
    (venv / ".complete").touch()
    return venv


def compile_sourceless(venv: Path) -> None:
    """Byte-compile the libraries next to their sources (`compileall -b`), as a deploy venv
    should be: Zappa then packages the .pyc instead of the .py (it skips a .py with a newer
    .pyc beside it), and Python loads those without a source to check, so a cold start
    compiles nothing (Lambda cannot write bytecode caches, and the __pycache__ files pip
    writes are keyed on source timestamps that the zip does not keep, so they are left out).
    """
    marker = venv / ".compiled"
    if marker.exists():
        return
    site_packages = next((venv / "lib").glob("python3*/site-packages"))
    subprocess.run([str(venv / "bin" / "python"), "-m", "compileall", "-b", "-q", "-j", "0", str(site_packages)],
                   check=False, stdout=subprocess.DEVNULL)
    marker.touch()


def start_moto():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def aws_env(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_REGION": "eu-central-1",
    }


def package(venv: Path, stage: str, output: Path, endpoint: str) -> float:
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "DJANGO_SETTINGS_MODULE", "STAGE")},
        **aws_env(endpoint),
        "VIRTUAL_ENV": str(venv),
        "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '')}",
    }
    started = time.perf_counter()
    subprocess.run(
        [str(venv / "bin" / "zappa"), "package", stage, "-o", str(output)],
        cwd=BASE_DIR, env=env, check=True, stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def sizes(zip_path: Path) -> tuple[int, int, int]:
    with zipfile.ZipFile(zip_path) as archive:
        infos = archive.infolist()
    return zip_path.stat().st_size, sum(i.file_size for i in infos), len(infos)


def largest_top_level(zip_path: Path, count: int = 6) -> list[tuple[str, int]]:
    totals: dict[str, int] = {}
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            top = info.filename.split("/", 1)[0]
            totals[top] = totals.get(top, 0) + info.file_size
    return sorted(totals.items(), key=lambda item: -item[1])[:count]


def runtime_shim(venv: Path, into: Path) -> Path:
    """boto3 and its dependencies, as Lambda's runtime offers them outside the package."""
    site_packages = next((venv / "lib").glob("python3*/site-packages"))
    into.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PROVIDED:
        source = site_packages / name
        if source.exists():
            (into / name).symlink_to(source)
    return into


def stage_secret(endpoint: str, stage_env: dict[str, str]) -> None:
    """The stage's two secrets, as put_bot_token leaves them: the token apart from the rest."""
    import boto3

    sm = boto3.client("secretsmanager", region_name="eu-central-1", endpoint_url=endpoint,
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    token = f"{stage_env['TELEGRAM_BOT_ID']}:AAH-benchmark-token-not-a-secret-000000"
    sm.create_secret(Name=stage_env["SECRETS_NAME"], SecretString=json.dumps({
        "telegram_webhook_secret": "bench-webhook-secret",
        "django_secret_key": "bench-django-secret-key-" + "x" * 40,
    }))
    token_secret = stage_env.get("BOT_TOKEN_SECRET_NAME") or f"{stage_env['SECRETS_NAME']}/bot-token"
    sm.create_secret(Name=token_secret, SecretString=json.dumps({"telegram_bot_token": token}))


def cold_import(kind: str, package_dir: Path, shim: Path, stage_env: dict[str, str], endpoint: str, runs: int) -> float:
    code = (
        "import sys, time\n"
        f"sys.path[:0] = [{str(package_dir)!r}, {str(shim)!r}]\n"
        "started = time.perf_counter()\n"
        f"{COLD_IMPORTS[kind]}"
        "print(time.perf_counter() - started)\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        **stage_env,
        **aws_env(endpoint),
        "DATABASE_URL": f"sqlite:///{package_dir / 'bench.sqlite3'}",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    base_python = str(Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}")
    times = []
    for _ in range(runs):
        # -S: no site-packages of this machine; only the package and the runtime shim.
        answer = subprocess.run([base_python, "-S", "-B", "-c", code], cwd=package_dir, env=env,
                                capture_output=True, text=True, timeout=120)
        if answer.returncode != 0:
            raise RuntimeError(f"cold import of {kind} failed:\n{answer.stderr[-3000:]}")
        times.append(float(answer.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Lambda package sizes and cold imports")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--stages", default="dev_site,dev_webhook,dev_sender")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--sources", action="store_true",
                        help="package the libraries' sources (no compileall -b; a fresh venv is needed to undo it)")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(BASE_DIR))
    from tests.deploy import zappa_stages

    venv = clean_venv()
    if not args.sources:
        compile_sourceless(venv)
    server, endpoint = start_moto()
    work = Path(tempfile.mkdtemp(prefix="bench-package-"))
    rows = []
    try:
        shim = runtime_shim(venv, work / "runtime")
        seeded = set()
        for stage in args.stages.split(","):
            kind = stage.split("_", 1)[1]
            env_stage = stage.split("_", 1)[0]
            stage_env = zappa_stages.environment(env_stage)
            if env_stage not in seeded:
                stage_secret(endpoint, stage_env)
                seeded.add(env_stage)
            zip_path = work / f"{stage}.zip"
            build_seconds = package(venv, stage, zip_path, endpoint)
            zipped, unzipped, files = sizes(zip_path)
            unpacked = work / stage
            with zipfile.ZipFile(zip_path) as archive:
                archive.extractall(unpacked)
            seconds = cold_import(kind, unpacked, shim, stage_env, endpoint, args.runs)
            rows.append((stage, zipped, unzipped, files, seconds, build_seconds, largest_top_level(zip_path)))
            if args.keep:
                OUT_DIR.mkdir(parents=True, exist_ok=True)
                shutil.copy(zip_path, OUT_DIR / zip_path.name)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"{'function':<14} {'zipped':>10} {'unzipped':>10} {'files':>7} {'cold import':>12} {'zappa package':>14}")
    for stage, zipped, unzipped, files, seconds, build_seconds, _ in rows:
        print(f"{stage:<14} {zipped / MIB:>7.1f} MiB {unzipped / MIB:>7.1f} MiB {files:>7} "
              f"{seconds * 1000:>9.0f} ms {build_seconds:>12.0f} s")
    print()
    print("goal: at most 20 MiB zipped, far under 250 MiB unzipped (naive package: 62 MiB / 159 MiB)")
    for stage, *_, biggest in rows:
        print(f"largest in {stage}: " + ", ".join(f"{name} {size / MIB:.1f} MiB" for name, size in biggest))


if __name__ == "__main__":
    main()
