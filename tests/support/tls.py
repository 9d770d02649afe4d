"""A TLS-terminating reverse proxy in front of plain-http apps, as in production.

The proxy listens on https://127.0.0.1:<port> with a throw-away certificate, forwards
each request to an upstream server over http and says what it saw in
`X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Host`, which the provider trusts
with `proxy_hops = 1`. Its port is known before the upstream apps are built, so that the
apps' issuer can be the proxy's https URL. With several upstreams it is a load balancer
that sends the requests to each in turn (no stickiness: every host must serve any
request); a test may change `upstreams` at any time to choose which host answers.
"""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import itertools
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# Headers that describe one connection, not the message: never forwarded.
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
               "transfer-encoding", "upgrade", "content-length"}


@dataclass(frozen=True)
class Certificate:
    cert: Path  # PEM; self-signed, so it is also the CA bundle that trusts it
    key: Path


def throwaway_certificate(folder: Path) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    paths = Certificate(cert=folder / "tls-cert.pem", key=folder / "tls-key.pem")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return paths


class TlsProxy(ThreadingHTTPServer):
    daemon_threads = True
    # http://host:port of each upstream server, set once they are served.
    upstreams: tuple[str, ...] = ()
    _turns = itertools.count()

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}"

    def next_upstream(self) -> str:
        """The server that takes the next request: each in turn."""
        return self.upstreams[next(self._turns) % len(self.upstreams)]

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a browser dropping a connection it distrusts or no longer needs


class _Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a browser expects of a real proxy
    server: TlsProxy

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers.update({"X-Forwarded-For": self.client_address[0],
                        "X-Forwarded-Proto": "https",
                        "X-Forwarded-Host": self.headers.get("Host", "")})
        target = urlsplit(self.server.next_upstream())
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
        finally:
            upstream.close()
        self.send_response(answer.status, answer.reason)
        for name, value in answer.getheaders():  # every Set-Cookie kept
            if name.lower() not in _HOP_BY_HOP | {"server", "date"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _forward

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the test's assertions say what matters


@contextmanager
def tls_proxy(certificate: Certificate) -> Iterator[TlsProxy]:
    """Serve the proxy on a free port of 127.0.0.1; set `.upstreams` before using it."""
    server = TlsProxy(("127.0.0.1", 0), _Forward)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate.cert, certificate.key)
    # The handshake happens in the handler's thread (on first read), not in accept().
    server.socket = context.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
