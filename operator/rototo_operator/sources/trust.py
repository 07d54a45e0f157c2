"""Per-remote trust for git: HTTPS certificates against a private CA, SSH host keys.

libgit2 hands its certificate callback a raw `git_cert` pointer, but pygit2's callback
wrapper drops it and passes `None`. `install_certificate_hook` re-registers pygit2's
`_certificate_check_cb` entry point (a cffi `extern "Python"` function) with a hook that
passes the pointer's address to payloads which define `rototo_certificate_check`; every
other payload gets pygit2's own behaviour unchanged. The certificate is then read with
`ctypes` using libgit2 1.9's `git_cert_x509` and `git_cert_hostkey` layouts.

This keeps trust per remote: pygit2's `settings.set_ssl_cert_locations` would change the
CA store for the whole process (every tenant's workspaces at once).

- HTTPS with a CA bundle: the server's leaf certificate is verified with `cryptography`
  against the bundle's certificates as trust anchors, for the URL's host name or IP
  address. Without a bundle, libgit2's own verification (system store) decides.
- SSH: the host key must be listed for the host (`[host]:port` for ports other than 22)
  in the source's known_hosts text (else `~/.ssh/known_hosts`). Hashed entries, patterns,
  negations and `@revoked` are honoured; `@cert-authority` lines are not supported. An
  unknown key and a changed key are both refused, with different messages.
"""

from __future__ import annotations

import base64
import ctypes
import fnmatch
import hashlib
import hmac
import ipaddress
import struct
import threading
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pygit2
import pygit2.callbacks
from cryptography import x509
from cryptography.x509 import verification

from rototo_operator.errors import SourceError
from rototo_operator.sources.credentials import Credentials

Verifier = Callable[[int, bool, str], bool]

_GIT_CERT_X509 = 1
_GIT_CERT_HOSTKEY_LIBSSH2 = 2
_SSH_SHA256 = 1 << 2
_SSH_RAW = 1 << 3


class _CertX509(ctypes.Structure):
    _fields_ = (("cert_type", ctypes.c_int), ("data", ctypes.c_void_p), ("len", ctypes.c_size_t))


class _CertHostkey(ctypes.Structure):
    _fields_ = (
        ("cert_type", ctypes.c_int),
        ("type", ctypes.c_int),
        ("hash_md5", ctypes.c_ubyte * 16),
        ("hash_sha1", ctypes.c_ubyte * 20),
        ("hash_sha256", ctypes.c_ubyte * 32),
        ("raw_type", ctypes.c_int),
        ("hostkey", ctypes.c_void_p),
        ("hostkey_len", ctypes.c_size_t),
    )


_hook_lock = threading.Lock()
_hook_installed = False


def install_certificate_hook() -> None:
    """Route libgit2 certificate checks with their certificate to our callbacks (idempotent)."""
    global _hook_installed  # noqa: PLW0603 - a process-wide registration, done once
    with _hook_lock:
        if _hook_installed:
            return
        ffi: Any = pygit2.ffi
        lib: Any = pygit2.C
        original: Any = getattr(pygit2.callbacks, "_certificate_check_cb", None)
        if original is None or not hasattr(ffi, "def_extern"):
            # A pygit2 without this entry point: our callbacks' plain certificate_check
            # then refuses anything that needs a private CA or a host key (fail closed).
            return

        def hook(cert: Any, valid: int, host: Any, handle: Any) -> int:
            payload = ffi.from_handle(handle)
            check = getattr(payload, "rototo_certificate_check", None)
            if check is None:
                result: int = original(cert, valid, host, handle)
                return result
            try:
                address = int(ffi.cast("uintptr_t", cert))
                accepted = check(address, bool(valid), ffi.string(host).decode())
            except BaseException as error:  # pygit2 re-raises it after the libgit2 call
                payload._stored_exception = error
                return int(lib.GIT_EUSER)
            return 0 if accepted else int(lib.GIT_ECERTIFICATE)

        hook.__name__ = "_certificate_check_cb"
        ffi.def_extern(name="_certificate_check_cb")(hook)
        _hook_installed = True


def libgit2_default(cert: int, valid: bool, host: str) -> bool:
    """No private trust configured: accept what libgit2 verified, explain a refusal."""
    if cert and _cert_type(cert) == _GIT_CERT_HOSTKEY_LIBSSH2:
        raise SourceError(f"SSH host key of {host} cannot be verified: no known_hosts supplied")
    if not valid:
        raise SourceError(
            f"the TLS certificate of {host} is not trusted by the system store; "
            "supply the certificate authority (ca.crt) for this source"
        )
    return True


def verifier_for(url: str, credentials: Credentials | None) -> Verifier:
    """The certificate policy for one remote URL."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "ssh":
        known = credentials.ssh_known_hosts if credentials else None
        if known is None:
            default = Path.home() / ".ssh" / "known_hosts"
            known = default.read_text(errors="replace") if default.is_file() else ""
        return _ssh_verifier(KnownHosts(known), parts.port or 22)
    if parts.scheme == "https" and credentials is not None and credentials.ca_bundle:
        return _ca_verifier(credentials.ca_bundle)
    return libgit2_default


def _cert_type(address: int) -> int:
    return int(ctypes.c_int.from_address(address).value)


def _ca_verifier(bundle: str) -> Verifier:
    try:
        anchors = x509.load_pem_x509_certificates(bundle.encode())
    except ValueError as error:
        raise SourceError(f"the CA bundle (ca.crt) is not valid PEM: {error}") from None
    store = verification.Store(anchors)

    def verify(cert: int, valid: bool, host: str) -> bool:
        if _cert_type(cert) != _GIT_CERT_X509:
            raise SourceError(f"{host} presented no X.509 certificate")
        raw = _CertX509.from_address(cert)
        der = ctypes.string_at(raw.data, raw.len)
        return verify_leaf(der, host, store)

    return verify


def verify_leaf(der: bytes, host: str, store: verification.Store) -> bool:
    """Verify a DER leaf certificate for `host` against trust anchors; SourceError if not."""
    leaf = x509.load_der_x509_certificate(der)
    subject: x509.GeneralName
    try:
        subject = x509.IPAddress(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        subject = x509.DNSName(host)
    verifier = verification.PolicyBuilder().store(store).build_server_verifier(subject)
    try:
        verifier.verify(leaf, [])
    except verification.VerificationError as error:
        raise SourceError(
            f"the TLS certificate of {host} does not verify against the supplied CA bundle: {error}"
        ) from None
    return True


class KnownHosts:
    """Parsed known_hosts text: which keys are accepted or revoked for a host name."""

    def __init__(self, text: str) -> None:
        self.entries: list[tuple[str | None, str, str, bytes]] = []
        for raw_line in text.splitlines():
            line = raw_line.strip()
            if not line or line.startswith("#"):
                continue
            marker: str | None = None
            if line.startswith("@"):
                marker, _, rest = line.partition(" ")
                line = rest.strip()
            fields = line.split()
            if len(fields) < 3:
                continue
            try:
                blob = base64.b64decode(fields[2], validate=True)
            except ValueError:
                continue
            self.entries.append((marker, fields[0], fields[1], blob))

    def keys_for(self, name: str) -> tuple[list[bytes], list[bytes]]:
        """(accepted key blobs, revoked key blobs) listed for `name`."""
        accepted: list[bytes] = []
        revoked: list[bytes] = []
        for marker, patterns, _keytype, blob in self.entries:
            if marker == "@revoked":
                revoked.append(blob)
            elif marker is None and _host_matches(patterns, name):
                accepted.append(blob)
        return accepted, revoked


def _host_matches(patterns: str, name: str) -> bool:
    if patterns.startswith("|1|"):
        try:
            _, _, salt, digest = patterns.split("|")
            expected = base64.b64decode(digest)
            actual = hmac.new(base64.b64decode(salt), name.encode(), hashlib.sha1).digest()
        except ValueError:
            return False
        return hmac.compare_digest(expected, actual)
    matched = False
    for pattern in patterns.split(","):
        negated = pattern.startswith("!")
        # known_hosts wildcards are only * and ?; brackets are literal ("[host]:port").
        literal = pattern.removeprefix("!").lower().replace("[", "[[]")
        if fnmatch.fnmatchcase(name, literal):
            if negated:
                return False
            matched = True
    return matched


def _key_description(blob: bytes | None, sha256: bytes) -> str:
    keytype = "unknown-type"
    if blob is not None and len(blob) >= 4:
        (length,) = struct.unpack(">I", blob[:4])
        keytype = blob[4 : 4 + length].decode("ascii", "replace")
    fingerprint = base64.b64encode(sha256).decode().rstrip("=")
    return f"{keytype} SHA256:{fingerprint}"


def _ssh_verifier(known_hosts: KnownHosts, port: int) -> Verifier:
    def verify(cert: int, valid: bool, host: str) -> bool:
        if _cert_type(cert) != _GIT_CERT_HOSTKEY_LIBSSH2:
            raise SourceError(f"{host} presented no SSH host key")
        raw = _CertHostkey.from_address(cert)
        blob = ctypes.string_at(raw.hostkey, raw.hostkey_len) if raw.type & _SSH_RAW else None
        if blob is not None:
            sha256 = hashlib.sha256(blob).digest()
        elif raw.type & _SSH_SHA256:
            sha256 = bytes(raw.hash_sha256)
        else:
            raise SourceError(
                f"SSH host key of {host} cannot be verified: no key data from libgit2"
            )
        name = host.lower() if port == 22 else f"[{host.lower()}]:{port}"
        accepted, revoked = known_hosts.keys_for(name)
        presented = _key_description(blob, sha256)
        if any(hashlib.sha256(key).digest() == sha256 for key in revoked):
            raise SourceError(f"SSH host key of {name} ({presented}) is revoked in known_hosts")
        if any(hashlib.sha256(key).digest() == sha256 for key in accepted):
            return True
        if accepted:
            raise SourceError(
                f"SSH host key of {name} does not match known_hosts: the server presented "
                f"{presented}; the key may have changed or the connection is intercepted"
            )
        raise SourceError(
            f"SSH host key of {name} is unknown: {presented} is not in the supplied "
            "known_hosts; add the host's key to known_hosts"
        )

    return verify
