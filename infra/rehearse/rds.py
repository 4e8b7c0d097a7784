"""
The stage's RDS instance in the rehearsal: a fresh PostgreSQL cluster of its own.

moto records the stack's DB instance (its endpoint host, port, master user) but runs no
database. The rehearsal plays RDS for it: a new cluster (initdb) in var/rehearse/pg/, made
for this run only, whose superuser is the instance's master user with the master password
from the stack's admin secret, password authentication (scram-sha-256) required for every
TCP connection, listening on a loopback address of its own (127.0.0.2 by default) on the
instance's port. The functions reach it by the instance's endpoint host name, which their
/etc/hosts (inside their mount namespace) maps to that address. Nothing of the team's
shared PostgreSQL on 127.0.0.1 is touched.

TLS as on RDS with `rds.force_ssl=1`: the server has a certificate for the instance's
endpoint name, issued by the rehearsal's CA, which plays Amazon's RDS CA (the runtime adds it
to the RDS CA bundle in each unzipped package, see runtime.py), and refuses connections
without TLS. So `sslmode=verify-full` with the package's bundle is rehearsed: a wrong host
name or a client that does not verify still fails here.

Differences from RDS: the server's version is Debian's, not the stack's EngineVersion; no
parameter groups, RDS Proxy or storage limits.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
DATA_DIR = BASE_DIR / "var" / "rehearse" / "pg"


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (Debian package postgresql)")
    return found[-1]


class RdsInstance:
    def __init__(self, *, address: str = "127.0.0.2", data_dir: Path = DATA_DIR):
        self.address = address
        self.data_dir = data_dir  # readable by the postgres user (a test's own: not under pytest's 0700 tmp)
        self.port = 5432
        self.host = ""  # the endpoint name the stack's instance has in moto
        self._running = False

    def start(self, host: str, port: int, user: str, password: str, certificate: tuple[Path, Path]) -> "RdsInstance":
        """Create and start the cluster for the instance `host:port` (master `user`), serving
        TLS with `certificate` (chain file, key file) for the endpoint name."""
        self.host, self.port = host, int(port)
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.mkdir(parents=True)
        shutil.chown(self.data_dir, "postgres", "postgres")
        with tempfile.NamedTemporaryFile("w", delete=False, dir=self.data_dir, suffix=".pw") as pw:
            pw.write(password + "\n")
        shutil.chown(pw.name, "postgres", "postgres")
        data = self.data_dir / "data"
        self._as_postgres([_bin("initdb"), "-D", str(data), "-U", user, "--pwfile", pw.name,
                           "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"])
        os.unlink(pw.name)
        (data / "pg_hba.conf").write_text(
            "local all all trust\n"                          # the rehearsal's own checks, over the socket
            "hostssl all all 127.0.0.0/8 scram-sha-256\n"    # everyone else: TLS and the password
            "hostnossl all all 0.0.0.0/0 reject\n")          # rds.force_ssl=1
        for source, name in zip(certificate, ("server.crt", "server.key")):
            shutil.copy(source, data / name)
            shutil.chown(data / name, "postgres", "postgres")
            os.chmod(data / name, 0o600)
        options = (f"-c listen_addresses={self.address} -c port={self.port} -c unix_socket_directories={self.data_dir} "
                   "-c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key")
        self._as_postgres([_bin("pg_ctl"), "-D", str(data), "-o", options, "-l", str(self.data_dir / "log.txt"),
                           "-w", "-t", "60", "start"])
        self._running = True
        return self

    def _as_postgres(self, args: list[str]) -> None:
        answer = subprocess.run(["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True, cwd="/")
        if answer.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed: {answer.stderr.strip()[-1500:]}")

    def stop(self) -> None:
        data = self.data_dir / "data"
        if (data / "postmaster.pid").exists():
            subprocess.run(["runuser", "-u", "postgres", "--", _bin("pg_ctl"), "-D", str(data), "-m", "fast",
                            "-w", "stop"], capture_output=True, cwd="/")
        self._running = False

    def local_url(self, user: str, database: str = "postgres") -> str:
        """A URL for the rehearsal's own checks (the socket, no password)."""
        return f"postgres://{user}@/{database}?host={self.data_dir}&port={self.port}"
