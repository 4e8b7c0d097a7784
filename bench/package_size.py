"""
Lambda package size and cold import time of each function: `python -m bench.package_size`.

The packages are exactly what `make package` builds (infra/aws/package.py): `zappa package`
from the deploy virtualenv (requirements.txt and Zappa only, the compiled wheels chosen for
Lambda's platform, libraries byte-compiled), with the root zappa_settings.json's kinds as
`dev_<kind>` stages. For each function:

  1. zipped and unzipped size (Lambda: 50 MB zipped upload, 250 MB unzipped; the goal here
     is at most 20 MiB zipped), and the ELF files it carries with the scan's verdict
     against Amazon Linux 2 (infra/aws/package_scan.py);
  2. the handler's cold import from the unzipped package, in a fresh `python3.11 -S -B`
     whose path is the package and the rehearsal's runtime directory (the boto3 version
     Lambda's python3.11 runtime ships, infra/rehearse/runtime_deps.py), with the stage's
     environment and its secrets in moto. Median of several runs.

Options: --runs N (default 5), --stages dev_site,dev_webhook,dev_sender, --keep (keep the
packages in var/bench-packages/).
"""

from __future__ import annotations

import argparse
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
OUT_DIR = BASE_DIR / "var" / "bench-packages"
MIB = 1024 * 1024

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
    args = parser.parse_args(argv)

    sys.path.insert(0, str(BASE_DIR))
    from infra.aws import package, package_scan
    from infra.rehearse.runtime_deps import runtime_dir
    from tests.deploy import zappa_stages

    server, endpoint = start_moto()
    work = Path(tempfile.mkdtemp(prefix="bench-package-"))
    rows = []
    try:
        runtime = runtime_dir()
        seeded = set()
        by_stage: dict[str, list[str]] = {}
        for stage in args.stages.split(","):
            env_stage, kind = stage.split("_", 1)
            by_stage.setdefault(env_stage, []).append(kind)
        for env_stage, kinds in by_stage.items():
            stage_env = zappa_stages.environment(env_stage)
            if env_stage not in seeded:
                stage_secret(endpoint, stage_env)
                seeded.add(env_stage)
            settings = package.settings_file(env_stage, work, rendered_first=False)
            started = time.perf_counter()
            built = package.build(env_stage, tuple(kinds), work, settings=settings, log=lambda line: None)
            build_seconds = (time.perf_counter() - started) / len(built)
            for zip_path in built:
                kind = zip_path.stem.split("_", 1)[1]
                zipped, unzipped, files = sizes(zip_path)
                elf_count, problems = package_scan.scan_zip(zip_path)
                unpacked = work / zip_path.stem
                with zipfile.ZipFile(zip_path) as archive:
                    archive.extractall(unpacked)
                seconds = cold_import(kind, unpacked, runtime, stage_env, endpoint, args.runs)
                rows.append((zip_path.stem, zipped, unzipped, files, elf_count, len(problems), seconds,
                             build_seconds, largest_top_level(zip_path)))
                if args.keep:
                    OUT_DIR.mkdir(parents=True, exist_ok=True)
                    shutil.copy(zip_path, OUT_DIR / zip_path.name)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"{'function':<14} {'zipped':>10} {'unzipped':>10} {'files':>7} {'ELF':>5} {'AL2 problems':>13} "
          f"{'cold import':>12} {'build':>7}")
    for stage, zipped, unzipped, files, elf_count, problems, seconds, build_seconds, _ in rows:
        print(f"{stage:<14} {zipped / MIB:>7.1f} MiB {unzipped / MIB:>7.1f} MiB {files:>7} {elf_count:>5} "
              f"{problems:>13} {seconds * 1000:>9.0f} ms {build_seconds:>5.0f} s")
    print()
    print("goal: at most 20 MiB zipped, no ELF file needing more than Amazon Linux 2's glibc 2.26 / GLIBCXX 3.4.24")
    for stage, *_, biggest in rows:
        print(f"largest in {stage}: " + ", ".join(f"{name} {size / MIB:.1f} MiB" for name, size in biggest))


if __name__ == "__main__":
    main()
