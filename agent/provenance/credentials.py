"""C2PA content credentials for delivered cuts (c2pa-python): sign with the user's certificate and key,
and read a file's manifest back as valid, invalid or absent.

The manifest says what the cut is: created by briefcut, its digital source type IPTC's
`trainedAlgorithmicMedia` (made by a trained model), each edit of a later version as an `c2pa.edited`
action, and a `org.briefcut.provenance` assertion with what it was made from (the brief's hash, the
models with their revisions and licenses, the seeds, the watermark key). Unsigned runs keep the JSON
provenance in the MP4's tags only.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent import __version__
from agent.errors import BriefcutError, MissingDependency
from generators.media import file_sha256

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
ASSERTION = "org.briefcut.provenance"
EXTRA_HINT = "install it with: pip install 'briefcut[provenance]'"


class SigningError(BriefcutError):
    """A certificate or key that cannot sign (unreadable, mismatched, a profile C2PA refuses)."""

    exit_code = 2


@dataclass(frozen=True)
class SigningKey:
    """The user's certificate chain (PEM: the signing certificate first, then its issuers) and key."""

    cert: Path
    key: Path
    tsa_url: str | None = None

    def algorithm(self) -> str:
        """The C2PA signing algorithm for the key: es256/es384/es512 (EC), ps256 (RSA), ed25519."""
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        try:
            key = load_pem_private_key(self.key.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise SigningError(f"signing key {self.key}: cannot read it as an unencrypted PEM private key ({exc})") from None
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return {256: "es256", 384: "es384", 521: "es512"}[key.curve.key_size]
        if isinstance(key, rsa.RSAPrivateKey):
            return "ps256"
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return "ed25519"
        raise SigningError(f"signing key {self.key}: {type(key).__name__} is not a key type C2PA signs with")


def _c2pa() -> Any:
    try:
        import c2pa
    except ImportError as exc:
        raise MissingDependency(f"content credentials need c2pa-python ({exc}); {EXTRA_HINT}") from None
    return c2pa


def manifest(title: str, provenance: dict[str, Any], edits: list[str]) -> dict[str, Any]:
    """The C2PA manifest definition of one cut."""
    agent = {"name": "briefcut", "version": __version__}
    actions = [{"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA, "softwareAgent": agent}]
    actions += [{"action": "c2pa.edited", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA, "softwareAgent": agent,
                 "description": edit} for edit in edits]
    return {
        "claim_generator_info": [agent], "title": title, "format": "video/mp4",
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": actions}},
                       {"label": ASSERTION, "data": json.loads(json.dumps(provenance, default=str))}],
    }


def sign_mp4(source: Path, dest: Path, key: SigningKey, definition: dict[str, Any]) -> None:
    """Write `source` with a signed C2PA manifest to `dest` (a different path; the caller renames)."""
    c2pa = _c2pa()
    try:
        info = c2pa.C2paSignerInfo(key.algorithm(), key.cert.read_bytes(), key.key.read_bytes(), key.tsa_url)
        with c2pa.Signer.from_info(info) as signer, c2pa.Builder(definition) as builder:
            builder.sign_file(str(source), str(dest), signer)
    except OSError as exc:
        raise SigningError(f"signing {source.name}: {exc}") from None
    except c2pa.C2paError as exc:
        raise SigningError(f"signing {source.name} with {key.cert}: {exc} (C2PA wants a leaf certificate issued "
                           "by a CA, not self-signed, with key usage digitalSignature and an extended key usage "
                           "such as emailProtection or documentSigning)") from None


def read_credentials(path: Path, trust_anchors: Path | None = None) -> dict[str, Any]:
    """The file's C2PA manifest: `status` valid | invalid | absent | unavailable (c2pa not installed), whether
    the signer chains to `trust_anchors` (PEM) when given, failures, the signer and briefcut's assertion."""
    try:
        c2pa = _c2pa()
    except MissingDependency as exc:
        return {"status": "unavailable", "detail": str(exc)}
    context = None
    if trust_anchors is not None:
        context = c2pa.Context.from_dict({"verify": {"verify_trust": True},
                                          "trust": {"trust_anchors": trust_anchors.read_text()}})
    try:
        reader = c2pa.Reader.try_create(str(path), context=context) if context else c2pa.Reader.try_create(str(path))
    except c2pa.C2paError as exc:  # a manifest that cannot even be parsed is not a valid one
        return {"status": "invalid", "state": None, "failures": [str(exc)]}
    if reader is None:
        return {"status": "absent"}
    with reader:
        return _summary(reader)


def _summary(reader: Any) -> dict[str, Any]:
    state = reader.get_validation_state()
    results = (reader.get_validation_results() or {}).get("activeManifest") or {}
    active = reader.get_active_manifest() or {}
    data = next((a.get("data") for a in active.get("assertions", []) if a.get("label") == ASSERTION), None)
    actions = next((a.get("data", {}).get("actions", []) for a in active.get("assertions", [])
                    if a.get("label", "").startswith("c2pa.actions")), [])
    signer = active.get("signature_info") or {}
    return {
        "status": "valid" if state in ("Valid", "Trusted") else "invalid", "state": state,
        "trusted": state == "Trusted",
        "failures": [f"{f.get('code')}: {f.get('explanation')}" for f in results.get("failure", [])],
        "signer": {k: signer.get(k) for k in ("issuer", "common_name", "alg", "time") if signer.get(k)},
        "actions": [{k: a.get(k) for k in ("action", "digitalSourceType", "description") if a.get(k)} for a in actions],
        "briefcut": data,
    }


def signing_key(settings: Any) -> SigningKey | None:
    """The signing key the settings name (flags or environment), checked; None when signing is off.
    Half a pair, a missing file or an unusable key is a SigningError (exit 2) before any work."""
    cert, key = settings.sign_cert, settings.sign_key
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise SigningError("signing needs both a certificate chain and its key: --sign-cert and --sign-key "
                           "(or BRIEFCUT_SIGN_CERT and BRIEFCUT_SIGN_KEY)")
    for what, path in (("certificate", cert), ("key", key)):
        if not Path(path).is_file():
            raise SigningError(f"signing {what} not found: {path}")
    stamp = (Path(cert).stat().st_mtime_ns, Path(key).stat().st_mtime_ns)
    return _checked(str(cert), str(key), settings.sign_tsa, stamp)


@functools.lru_cache(maxsize=8)
def _checked(cert: str, key: str, tsa: str | None, stamp: tuple[int, int]) -> SigningKey:
    """A signing key that has made a trial signature (once per files and their modification times)."""
    found = SigningKey(Path(cert), Path(key), tsa)
    _trial_signature(found)  # a key or certificate C2PA refuses fails now, not after rendering
    return found


def _trial_signature(key: SigningKey) -> None:
    """Sign a two-frame MP4 in a temporary folder with `key` (raises SigningError as real signing would)."""
    import tempfile

    import numpy as np

    from generators.media import write_frames

    with tempfile.TemporaryDirectory(prefix="briefcut-sign-check-") as tmp:
        clip = Path(tmp) / "check.mp4"
        write_frames(clip, [np.zeros((16, 16, 3), np.uint8)] * 2, fps=24)
        sign_mp4(clip, Path(tmp) / "signed.mp4", key, manifest("check.mp4", {}, []))


def seal(path: Path, key: SigningKey | None, provenance: dict[str, Any], edits: list[str]) -> dict[str, Any]:
    """Sign a finished cut in place (through a temporary file and a rename) when a key is given; returns
    what the store records: the media's SHA-256 before signing (what `reproduce` compares), the file's
    after, and whether it is signed."""
    record: dict[str, Any] = {"media_sha256": file_sha256(path), "signed": False}
    if key is not None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.c2pa.mp4")
        try:
            sign_mp4(path, tmp, key, manifest(path.name, provenance, edits))
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        record["signed"] = True
    record["sha256"] = file_sha256(path)
    return record


