"""shared/egress.py: which addresses are public, one resolution per request that the connection really uses (plain
HTTP and TLS, where the certificate is checked against the name, not the address), no redirects, capped answers."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from shared.egress import (
    EgressGuard,
    EgressPolicy,
    EgressRefused,
    EgressTransport,
    ResponseTooLarge,
    create_egress_client,
    is_public,
)
from tests.support.plugin import serve_app

REFUSED = [
    "127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
    "224.0.0.1", "240.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1",
    "::", "::1", "fe80::1", "fc00::1", "fd12:3456::1", "fec0::1", "ff02::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::127.0.0.1", "2002:7f00:1::", "2002:a00:1::",
    "64:ff9b::7f00:1", "64:ff9b::a00:1", "2001:0:4136:e378:8000:63bf:80ff:fffe",
]  # fmt: skip
PUBLIC = ["8.8.8.8", "93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "2002:808:808::"]


@pytest.mark.parametrize("address", REFUSED)
def test_refused_ranges(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def _echo_app() -> Starlette:
    async def echo(request: Request) -> Response:
        return JSONResponse({"host": request.headers.get("host"), "path": request.url.path})

    async def big(request: Request) -> Response:
        return Response(b"x" * 10_000)

    async def redirect(request: Request) -> Response:
        return RedirectResponse("http://127.0.0.1:9/elsewhere", status_code=302)

    return Starlette(
        routes=[Route("/echo", echo), Route("/big", big), Route("/redirect", redirect)],
    )


class Answers:
    """A resolver that answers from a script and remembers every question."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        return [self.answers[min(len(self.asked), len(self.answers)) - 1]]


async def test_rebinding_answer_is_never_connected_to() -> None:
    """The first answer is public, the next one loopback: the request goes to the address that was checked."""
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(204)

    resolver = Answers("93.184.216.34", "127.0.0.1")
    transport = EgressTransport(EgressGuard(EgressPolicy(), resolver), inner=httpx.MockTransport(record))
    async with httpx.AsyncClient(transport=transport) as client:
        r = await client.post("https://hooks.example.com:8443/cb?x=1", content=b"{}")
        assert r.status_code == 204
        with pytest.raises(EgressRefused):
            await client.post("https://hooks.example.com:8443/cb?x=1", content=b"{}")
    assert resolver.asked == [("hooks.example.com", 8443), ("hooks.example.com", 8443)]
    assert len(sent) == 1
    assert str(sent[0].url) == "https://93.184.216.34:8443/cb?x=1"
    assert sent[0].headers["host"] == "hooks.example.com:8443"
    assert sent[0].extensions["sni_hostname"] == "hooks.example.com"


async def test_literal_and_unresolvable_hosts_and_bad_schemes() -> None:
    guard = EgressGuard(EgressPolicy(), Answers())
    for url in ("http://127.0.0.1/", "http://[::1]/", "http://[::ffff:7f00:1]/", "ftp://example.com/", "/relative"):
        with pytest.raises(EgressRefused):
            await guard.target(url)

    async def broken(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    with pytest.raises(EgressRefused, match="cannot resolve"):
        await EgressGuard(EgressPolicy(), broken).target("http://nowhere.invalid/")
    literal = EgressGuard(EgressPolicy(), Answers("8.8.8.8"))
    assert str((await literal.target("http://8.8.4.4/")).address) == "8.8.4.4"  # a literal is not resolved


async def test_plain_http_keeps_the_host_header_no_redirects_and_a_cap() -> None:
    async with serve_app(_echo_app()) as url:
        port = int(url.rsplit(":", 1)[1])
        resolver = Answers("127.0.0.1")
        policy = EgressPolicy(allow_private=True, max_response_bytes=1000)
        async with create_egress_client(policy, resolver) as client:
            r = await client.get(f"http://hooks.local.test:{port}/echo")
            assert r.json() == {"host": f"hooks.local.test:{port}", "path": "/echo"}
            r = await client.get(f"http://hooks.local.test:{port}/redirect")
            assert r.status_code == 302  # not followed
            with pytest.raises(ResponseTooLarge):
                await client.get(f"http://hooks.local.test:{port}/big")
        async with create_egress_client(EgressPolicy(), resolver) as client:
            with pytest.raises(EgressRefused):
                await client.get(f"http://hooks.local.test:{port}/echo")


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def test_tls_is_verified_against_the_name_not_the_address(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path, "hooks.tls.test")
    trust = ssl.create_default_context(cafile=str(cert))
    async with serve_app(_echo_app(), ssl_certfile=str(cert), ssl_keyfile=str(key)) as url:
        port = int(url.rsplit(":", 1)[1])

        def client() -> httpx.AsyncClient:
            guard = EgressGuard(EgressPolicy(allow_private=True), Answers("127.0.0.1"))
            inner = httpx.AsyncHTTPTransport(verify=trust)
            return httpx.AsyncClient(transport=EgressTransport(guard, inner))

        async with client() as c:
            r = await c.get(f"https://hooks.tls.test:{port}/echo")
            assert r.json()["host"] == f"hooks.tls.test:{port}"
        async with client() as c:  # same address, another name: the certificate does not match it
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED|match"):
                await c.get(f"https://other.tls.test:{port}/echo")
