"""The pairing channel: TLS 1.3 with a throwaway self-signed certificate that the code pins, and framed messages.

The sender makes a new key and certificate for each pairing (``cryptography``);
the joiner accepts only the certificate whose SHA-256 starts with the code's pin,
checked before it sends a byte, so the secret and the rows travel encrypted to the
right device only. No cryptographic primitive is written here.

A message is a 4-byte big-endian length, a JSON header of that length, then
``payload_bytes`` bytes of payload (a batch). A peer silent for ``timeout`` seconds
fails the transfer with a sentence.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import select
import socket
import ssl
import struct
import tempfile
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ..errors import RemoteError, RemoteUnavailable

_LENGTH = struct.Struct(">I")
MAX_HEADER = 1 << 20
MAX_PAYLOAD = 1 << 30


def server_context() -> tuple[ssl.SSLContext, bytes]:
    """A TLS server context with a fresh self-signed certificate, and the certificate's SHA-256."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "syncengine pairing")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    with tempfile.TemporaryDirectory(prefix="syncengine-pair-") as folder:  # made readable by its owner only
        cert_path, key_path = Path(folder) / "cert.pem", Path(folder) / "key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context.load_cert_chain(cert_path, key_path)
    return context, hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()


def connect(host: str, port: int, pin: bytes, timeout: float) -> Channel:
    """Open a channel to the sender; refuse a certificate that does not match ``pin``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the code's pin is the trust: checked below, before anything is sent
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise RemoteUnavailable(
            f"cannot reach the device that made the code at {host}:{port} ({exc.strerror or exc}); "
            "is the other device still waiting with this code, on a network this device can reach?"
        ) from exc
    try:
        sock = context.wrap_socket(raw, server_hostname=None)
    except (OSError, ssl.SSLError) as exc:
        raw.close()
        raise RemoteError(f"the device at {host}:{port} did not complete a secure connection: {exc}") from exc
    der = sock.getpeercert(binary_form=True) or b""
    if not hmac.compare_digest(hashlib.sha256(der).digest()[: len(pin)], pin):
        sock.close()
        raise RemoteError(
            f"the device at {host}:{port} is not the one that made this code (its certificate does not match); "
            "nothing was sent. A mistyped code looks the same as a stranger: check the code, or ask for a new one."
        )
    return Channel(sock, timeout)


class Channel:
    """Framed JSON messages with an optional binary payload over one TLS connection."""

    def __init__(self, sock: ssl.SSLSocket, timeout: float) -> None:
        self.sock = sock
        self.timeout = timeout
        sock.settimeout(timeout)
        self.sent_bytes = 0
        self.received_bytes = 0

    def send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        """Send one message."""
        head = json.dumps({**header, "payload_bytes": len(payload)}).encode()
        try:
            self.sock.sendall(_LENGTH.pack(len(head)) + head)
            if payload:
                self.sock.sendall(payload)
        except TimeoutError as exc:
            raise RemoteUnavailable(f"the other device stopped taking data (nothing for {self.timeout:g} s)") from exc
        except OSError as exc:
            raise RemoteUnavailable(f"the connection to the other device was lost ({exc})") from exc
        self.sent_bytes += len(head) + len(payload) + 4

    def receive(self) -> tuple[dict[str, Any], bytes]:
        """Receive one message: its header and its payload."""
        (length,) = _LENGTH.unpack(self._read(4))
        if length > MAX_HEADER:
            raise RemoteError("the other device sent a malformed message")
        try:
            header = json.loads(self._read(length))
        except ValueError as exc:
            raise RemoteError("the other device sent a malformed message") from exc
        size = header.get("payload_bytes", 0) if isinstance(header, dict) else -1
        if not isinstance(size, int) or not 0 <= size <= MAX_PAYLOAD:
            raise RemoteError("the other device sent a malformed message")
        payload = self._read(size) if size else b""
        self.received_bytes += 4 + length + size
        return header, payload

    def waiting(self) -> bool:
        """Whether the other device's next message has begun to arrive (so receiving would not wait)."""
        try:
            return self.sock.pending() > 0 or bool(select.select([self.sock], [], [], 0)[0])
        except (OSError, ValueError):
            return False

    def _read(self, n: int) -> bytes:
        chunks: list[bytes] = []
        left = n
        while left:
            try:
                chunk = self.sock.recv(min(left, 1 << 20))
            except TimeoutError as exc:
                raise RemoteUnavailable(f"the other device stopped answering (nothing for {self.timeout:g} s)") from exc
            except OSError as exc:
                raise RemoteUnavailable(f"the connection to the other device was lost ({exc})") from exc
            if not chunk:
                raise RemoteUnavailable("the other device closed the connection")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        """Close the connection."""
        with contextlib.suppress(OSError):
            self.sock.close()
