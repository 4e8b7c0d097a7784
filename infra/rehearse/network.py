"""
The rehearsal's internet: the stage's public names, over HTTPS, on this machine only.

The functions, the operator's commands and the Telegram sandbox reach every public name the
way they would on AWS: by HTTPS to the real host name (`sqs.eu-central-1.amazonaws.com`,
`api.telegram.org`, `dev.meetups.example.com`, `<api>.execute-api...`), with certificates
they verify. Here that goes through an HTTP CONNECT proxy (`HTTPS_PROXY`, which boto3,
httpx and requests honour) that tunnels only to names it knows, to one local TLS server
that presents a certificate for the requested name issued by the rehearsal's own CA
(`SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`, `AWS_CA_BUNDLE` point at it). Nothing else is
reachable: an unknown name, a port other than the ones the name allows, or plain HTTP
through the proxy gets 403. The TLS server hands each request, by its Host, to a WSGI
app: AWS's endpoints, Telegram (the sandbox), or API Gateway (custom domains and
execute-api hosts).

Telegram delivers webhooks only to HTTPS on ports 443, 80, 88 or 8443: the webhook
domain's routes allow exactly those, and the sandbox is made to refuse other webhook URLs
at setWebhook (telegram.py).
"""

from __future__ import annotations

import datetime
import ipaddress
import select
import socket
import socketserver
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

from werkzeug.serving import make_server

TELEGRAM_WEBHOOK_PORTS = (443, 80, 88, 8443)


class CertificateAuthority:
    """A throw-away CA for one rehearsal, and a certificate per host name, on demand."""

    def __init__(self, directory: Path):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self._x509, self._hashes, self._serialization, self._ec, self._oid = x509, hashes, serialization, ec, NameOID
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "meetups deploy rehearsal CA")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                                  data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                                  crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        # What clients trust: the machine's public CAs, as anywhere, and this CA.
        system = Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")
        self.bundle = directory / "bundle.pem"
        self.bundle.write_bytes((system.read_bytes() if system.exists() else b"") + self.ca_file.read_bytes())
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()

    def context_for(self, host: str) -> ssl.SSLContext:
        with self._lock:
            if host not in self._contexts:
                self._contexts[host] = self._issue(host)
            return self._contexts[host]

    def files_for(self, host: str) -> tuple[Path, Path]:
        """(certificate chain, key) files for `host` (a server outside this process: PostgreSQL)."""
        self.context_for(host)
        safe = host.replace("*", "_")
        return self.directory / f"{safe}.pem", self.directory / f"{safe}.key"

    def _issue(self, host: str) -> ssl.SSLContext:
        x509, hashes, serialization = self._x509, self._hashes, self._serialization
        key = self._ec.generate_private_key(self._ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        try:
            alt = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            alt = x509.DNSName(host)
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(self._oid.COMMON_NAME, host)]))
                .issuer_name(self.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .sign(self.key, hashes.SHA256()))
        safe = host.replace("*", "_")
        cert_file, key_file = self.directory / f"{safe}.pem", self.directory / f"{safe}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM)
                              + self.cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        return context


@dataclass
class Route:
    """Hosts (exact, or `*.suffix`) served by one WSGI app, on the ports given."""

    name: str
    hosts: tuple[str, ...]
    app: object
    ports: tuple[int, ...] = (443,)

    def matches(self, host: str) -> bool:
        return any(host == h or (h.startswith("*.") and host.endswith(h[1:])) for h in self.hosts)


@dataclass
class Network:
    directory: Path
    routes: list[Route] = field(default_factory=list)

    def __post_init__(self):
        self.ca = CertificateAuthority(self.directory)
        self._servers: list = []
        self.refused: list[str] = []

    def route_for(self, host: str) -> Route | None:
        host = host.split(":")[0].lower()
        return next((r for r in self.routes if r.matches(host)), None)

    # --- the TLS server: every known name, one WSGI app dispatching by Host ----------------

    def app(self, environ, start_response):
        host = (environ.get("HTTP_HOST") or "").split(":")[0].lower()
        route = self.route_for(host)
        if route is None:
            start_response("421 Misdirected Request", [("Content-Type", "text/plain")])
            return [f"no such host in the rehearsal: {host}\n".encode()]
        try:
            return route.app(environ, start_response)
        except Exception:  # a bug of the rehearsal, not an answer of AWS: keep its traceback
            import traceback

            from infra.rehearse.stage import WORK_DIR

            (WORK_DIR / "logs").mkdir(parents=True, exist_ok=True)
            with open(WORK_DIR / "logs" / "network-errors.log", "a") as log:
                log.write(f"{route.name} {environ.get('REQUEST_METHOD')} {host}{environ.get('PATH_INFO')}\n"
                          f"{traceback.format_exc()}\n")
            raise

    def start(self) -> "Network":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*self._default_pair())

        def choose(sock, server_name, _context):
            if server_name and self.route_for(server_name):
                sock.context = self.ca.context_for(server_name.lower())

        context.sni_callback = choose
        self.tls = make_server("127.0.0.1", 0, self.app, threaded=True, ssl_context=context)
        self.tls_port = self.tls.server_port
        self._serve(self.tls, "rehearsal-tls")
        self.proxy = _ConnectProxy(("127.0.0.1", 0), self)
        self.proxy_port = self.proxy.server_address[1]
        self._serve(self.proxy, "rehearsal-proxy")
        return self

    def _default_pair(self):
        self.ca.context_for("rehearsal.invalid")
        return self.directory / "rehearsal.invalid.pem", self.directory / "rehearsal.invalid.key"

    def _serve(self, server, name: str) -> None:
        thread = threading.Thread(target=server.serve_forever, daemon=True, name=name)
        thread.start()
        self._servers.append(server)

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    def client_env(self) -> dict[str, str]:
        """What a process needs to reach the rehearsal's internet (and only that)."""
        bundle = str(self.ca.bundle)
        return {"HTTPS_PROXY": self.proxy_url, "https_proxy": self.proxy_url,
                "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
                "SSL_CERT_FILE": bundle, "REQUESTS_CA_BUNDLE": bundle, "AWS_CA_BUNDLE": bundle}

    def httpx_client(self, **kwargs):
        """An httpx client on the rehearsal's internet (a browser, Telegram's servers)."""
        import httpx

        return httpx.Client(proxy=self.proxy_url, verify=ssl.create_default_context(cafile=str(self.ca.bundle)),
                            trust_env=False, **kwargs)


class _ConnectProxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, network: Network):
        self.network = network
        super().__init__(address, _ConnectHandler)


class _ConnectHandler(socketserver.BaseRequestHandler):
    def handle(self):
        network: Network = self.server.network
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 16384:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            head += chunk
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split()
        if len(parts) != 3 or parts[0] != "CONNECT":
            network.refused.append(line)
            self.request.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        host, _, port = parts[1].rpartition(":")
        route = network.route_for(host)
        if route is None or not port.isdigit() or int(port) not in route.ports:
            network.refused.append(parts[1])
            self.request.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        upstream = socket.create_connection(("127.0.0.1", network.tls_port))
        self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        _relay(self.request, upstream)


def _relay(a: socket.socket, b: socket.socket) -> None:
    sockets = [a, b]
    try:
        while True:
            readable, _, _ = select.select(sockets, [], [], 120)
            if not readable:
                return
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                (b if sock is a else a).sendall(data)
    except OSError:
        return
    finally:
        b.close()
