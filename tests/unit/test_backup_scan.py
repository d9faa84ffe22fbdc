"""The storage scanner: a marker is plaintext raw or inside a compressed stream; gpg's output is an
OpenPGP message and nothing else is."""

from __future__ import annotations

import bz2
import gzip
import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from drillkit.backup.check import plaintext_by_design, storage_findings
from drillkit.backup.scan import find_marker, is_openpgp_message, marker_in_file

MARKER = b"drillkit-marker-0123456789abcdef"
gpg_missing = pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is not installed")


def page_with(marker: bytes, size: int = 3 * 1024 * 1024, at: int = 1024 * 1024 - 7) -> bytes:
    """A data file with MARKER straddling the scanner's 1 MiB read boundary."""
    data = bytearray(b"\0" * size)
    data[at:at + len(marker)] = marker
    return bytes(data)


@pytest.fixture
def gnupg(tmp_path):
    """A key ring of the test's own; its gpg-agent is stopped afterwards."""
    home = tmp_path / "gnupg"
    yield home
    if home.exists():
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True, check=False)


def gpg_encrypt(home: Path, source: Path, recipient: bool) -> Path:
    home.mkdir(mode=0o700, exist_ok=True)
    base = ["gpg", "--homedir", str(home), "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", ""]
    out = source.with_name(source.name + ".gpg")
    if recipient:
        subprocess.run([*base, "--quick-gen-key", "t <t@t.invalid>", "rsa2048", "encrypt", "never"], check=True,
                       capture_output=True)
        subprocess.run([*base, "--trust-model", "always", "-r", "t@t.invalid", "-o", str(out), "--encrypt",
                        str(source)], check=True, capture_output=True)
    else:
        subprocess.run(["gpg", "--homedir", str(home), "--batch", "--yes", "--pinentry-mode", "loopback",
                        "--passphrase", "p", "-o", str(out), "--symmetric", str(source)], check=True,
                       capture_output=True)
    return out


def test_a_plain_file_holding_the_marker_is_found_raw_across_a_read_boundary(tmp_path):
    (tmp_path / "16388").write_bytes(page_with(MARKER))
    assert marker_in_file(tmp_path / "16388", MARKER) == "raw"


def test_a_gzip_stream_holding_the_marker_is_found_inside_it(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("base/16386/16388")
        data = page_with(MARKER)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    (tmp_path / "base.tar.gz").write_bytes(gzip.compress(buffer.getvalue()))
    assert MARKER not in (tmp_path / "base.tar.gz").read_bytes()
    assert marker_in_file(tmp_path / "base.tar.gz", MARKER) == "inside gzip"


def test_a_bzip2_stream_holding_the_marker_is_found_inside_it(tmp_path):
    (tmp_path / "wal.bz2").write_bytes(bz2.compress(page_with(MARKER, size=4096, at=100)))
    assert marker_in_file(tmp_path / "wal.bz2", MARKER) == "inside bzip2"


def test_a_file_without_the_marker_is_clean(tmp_path):
    (tmp_path / "other").write_bytes(page_with(b"something else entirely"))
    assert marker_in_file(tmp_path / "other", MARKER) is None


@gpg_missing
@pytest.mark.parametrize("recipient", [True, False], ids=["public key", "passphrase"])
def test_a_gpg_encrypted_file_hides_the_marker_and_is_an_openpgp_message(tmp_path, gnupg, recipient):
    plain = tmp_path / "000000010000000000000009"
    plain.write_bytes(page_with(MARKER, size=65536, at=4000))
    encrypted = gpg_encrypt(gnupg, plain, recipient)
    plain.unlink()
    assert marker_in_file(encrypted, MARKER) is None
    assert is_openpgp_message(encrypted)


def test_plain_and_gzip_files_are_not_openpgp_messages(tmp_path):
    (tmp_path / "plain").write_bytes(page_with(MARKER, size=8192, at=10))
    (tmp_path / "gz").write_bytes(gzip.compress(b"x" * 1000))
    (tmp_path / "high").write_bytes(b"\x85" + b"\xff" * 100)  # a packet-like first byte, nothing behind it
    assert not any(is_openpgp_message(tmp_path / name) for name in ("plain", "gz", "high"))


def test_find_marker_names_every_file_and_how(tmp_path):
    (tmp_path / "streaming").mkdir()
    (tmp_path / "streaming" / "000000010000000000000009.partial").write_bytes(page_with(MARKER, 8192, 10))
    (tmp_path / "base.tar.gz").write_bytes(gzip.compress(MARKER))
    (tmp_path / "clean").write_bytes(b"nothing")
    hits = {(hit.path.relative_to(tmp_path).as_posix(), hit.how) for hit in find_marker(tmp_path, MARKER)}
    assert hits == {("streaming/000000010000000000000009.partial", "raw"), ("base.tar.gz", "inside gzip")}


def test_barmans_plaintext_files_are_known_and_backup_data_is_not():
    assert all(plaintext_by_design(Path(p)) for p in (
        "streaming/000000010000000000000014.partial", "base/20261126T093425/data/backup_manifest",
        "meta/20261126T093425-backup.info", "identity.json", "wals/feedhub-xlog.db"))
    assert not any(plaintext_by_design(Path(p)) for p in (
        "base/20261126T093425/data/base.tar.gz.gpg", "wals/0000000100000000/000000010000000000000009",
        "wals/00000002.history", "plain-copy/base.tar.gz"))


@gpg_missing
def test_a_store_with_an_unencrypted_backup_fails_both_ways(tmp_path, gnupg):
    storage = tmp_path / "storage"
    (storage / "wals" / "0000000100000000").mkdir(parents=True)
    segment = storage / "wals" / "0000000100000000" / "000000010000000000000009"
    segment.write_bytes(page_with(MARKER, 65536, 4000))
    gpg_encrypt(gnupg, segment, recipient=False).rename(segment.with_suffix(".enc"))
    segment.unlink()
    (storage / "plain").mkdir()
    (storage / "plain" / "base.tar.gz").write_bytes(gzip.compress(page_with(MARKER, 65536, 4000)))
    hits, not_encrypted, searched, checked, _ = storage_findings(storage, MARKER)
    assert hits == ["plain/base.tar.gz (inside gzip)"]
    assert not_encrypted == ["plain/base.tar.gz"] and searched == 2 and checked == 2


@pytest.mark.parametrize("compress, kind", [(gzip.compress, "gzip"), (bz2.compress, "bzip2")])
def test_a_marker_inside_a_truncated_compressed_file_is_still_found(tmp_path: Path, compress, kind: str):
    """A compressed file cut short (a backup or WAL file still being written, or damaged) still holds
    readable plaintext before the cut: it must be searched, not skipped as unreadable."""
    whole = compress(b"\0" * 4096 + MARKER + b"\0" * 4096)
    cut = tmp_path / f"cut.{kind}"
    cut.write_bytes(whole[:-8])
    assert marker_in_file(cut, MARKER) == f"inside {kind}"
