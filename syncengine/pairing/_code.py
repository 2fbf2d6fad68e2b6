"""The pairing code: what a new device needs to find and trust the device that sends it the data.

It carries the sender's address and port, a one-time secret, and the first 80 bits
of the SHA-256 fingerprint of the sender's TLS certificate, which the joiner checks
before it sends anything (the secret then travels inside the channel). Written in
RFC 4648 base32, case-insensitive, in groups of five, for instance
``SE1-QCAAQ-DJUAE-…`` (an IPv4 address: 38 letters) or
``SE1H-shop-till.local:48123-…`` (a host name).
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
from dataclasses import dataclass

from ..errors import ConfigurationError

SECRET_BYTES = 8
PIN_BYTES = 10
_PREFIX = "SE1-"
_HOST_PREFIX = "SE1H-"


@dataclass(frozen=True, slots=True)
class PairingCode:
    """A decoded pairing code."""

    host: str
    port: int
    secret: bytes
    pin: bytes
    """The first bytes of the SHA-256 of the sender's certificate (DER)."""

    @classmethod
    def new(cls, host: str, port: int, pin: bytes) -> PairingCode:
        """A code with a fresh random secret."""
        return cls(host, port, secrets.token_bytes(SECRET_BYTES), pin[:PIN_BYTES])

    def __str__(self) -> str:
        tail = self.secret + self.pin
        try:
            address = ipaddress.IPv4Address(self.host)
        except ValueError:
            return f"{_HOST_PREFIX}{self.host}:{self.port}-{_groups(tail)}"
        return _PREFIX + _groups(address.packed + self.port.to_bytes(2, "big") + tail)

    @classmethod
    def parse(cls, text: str) -> PairingCode:
        """Read a code as typed (any case, spaces or dashes anywhere); ConfigurationError when it is not one."""
        raw = "".join(text.split())
        try:
            if raw.upper().startswith(_HOST_PREFIX):
                where, _, letters = raw[len(_HOST_PREFIX) :].rpartition("-")
                host, _, port = where.rpartition(":")
                tail = _bytes(letters)
                if not host or not port.isdigit() or len(tail) != SECRET_BYTES + PIN_BYTES:
                    raise ValueError
                return cls(host, int(port), tail[:SECRET_BYTES], tail[SECRET_BYTES:])
            if raw.upper().startswith(_PREFIX):
                body = _bytes(raw[len(_PREFIX) :])
                if len(body) != 6 + SECRET_BYTES + PIN_BYTES:
                    raise ValueError
                address = str(ipaddress.IPv4Address(body[:4]))
                number = int.from_bytes(body[4:6], "big")
                return cls(address, number, body[6 : 6 + SECRET_BYTES], body[6 + SECRET_BYTES :])
        except ValueError:
            pass
        if raw.upper().startswith(_PREFIX[:3]):
            why = "it starts as one but the rest is cut short, too long or mistyped"
        else:
            why = "a pairing code starts with SE1-"
        raise ConfigurationError(
            f"{text.strip()!r} is not a pairing code ({why}; copy it whole from what 'syncengine pair' printed)"
        )


def _groups(data: bytes) -> str:
    letters = base64.b32encode(data).decode("ascii").rstrip("=")
    return "-".join(letters[i : i + 5] for i in range(0, len(letters), 5))


def _bytes(letters: str) -> bytes:
    clean = letters.replace("-", "").upper()
    try:
        return base64.b32decode(clean + "=" * (-len(clean) % 8))
    except (ValueError, base64.binascii.Error) as exc:  # type: ignore[attr-defined]
        raise ValueError(str(exc)) from exc
