"""Which official release a benchmark file is, told by its content.

Each benchmark file its organisers published is known here by its git blob id (the SHA-1 git gives
the file's bytes, as ``git hash-object`` computes it; the same bytes as the repository's raw
download). The table lists every version of ``mmau-test-mini.json`` and ``mmau-test.json`` in the
history of Sakshi113/MMAU (the original 2024 release and MMAU-v05.15.25 with its later edits, up
to 2025-08-09) and the two MMAR metadata files of ddlBoJack/MMAR. A file that is not in the table
(edited, re-hosted, converted) is still scored, with a warning, under the release the user names.

Example
-------
>>> git_blob_id(b"hello\\n")
'ce013625030ba8dba906f756967f9e9ca394464a'

Authors
 * speechbrain_diffa contributors 2026
"""

import hashlib
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Release:
    """One published version of a benchmark file."""

    benchmark: str
    split: str
    version: str  # the release the organisers name (MMAU: "2024" or "v05.15.25")
    repository: str
    path: str
    commit: str
    date: str

    def __str__(self):
        return f"{self.repository} {self.path} @ {self.commit} ({self.date}), release {self.version}"


def _mmau(split, version, rows):
    path = f"mmau-{split}.json"
    return {blob: Release("mmau", split, version, "Sakshi113/MMAU", path, commit, date) for blob, commit, date in rows}


KNOWN_FILES = {
    **_mmau("test-mini", "2024", [
        ("e04117e7277d1a41e682a61931addcb7ffc8249b", "1c6af99", "2024-10-23"),
        ("8e4ac07f9717e57c9680b80a32db192b0d894d7d", "78fe032", "2024-10-25"),
        ("c904027d9417be3e363a3db14f58cb8082c82af0", "26d9342", "2024-10-29"),
        ("b256e635c28919eced627959e966bdfe2d715d9d", "a8d61f7", "2024-12-09"),
        ("cf25650c6fda3eef0e1737baad68dd0417fe708e", "a5cd89a", "2025-01-28"),
        ("537d6a3d06e8857b04cdb207b64a1f31f96b0594", "1f675a9", "2025-03-25"),
    ]),
    **_mmau("test-mini", "v05.15.25", [
        ("fb3a6899b37e265163bf7b72e6b05e97a4e74f95", "6674fa1", "2025-05-15"),
        ("73fde7d0ce47468842cf64a7f25b34c32572924b", "f2017e3", "2025-05-16"),
        ("db2ffaee56d4d2182b094ffec10846a3329de341", "2dcf44d", "2025-05-16"),
        ("2dac394ab12fed4220228ec949f4c590d4e813d7", "77fbb89", "2025-05-18"),
        ("e9a1605143109af04cff27acd699685278a45b26", "8f62d71", "2025-05-19"),
        ("18b0117457304219f1a69ef066963e06cea7d852", "65c0574", "2025-05-22"),
        ("360fcb64b812e31d4ec09a8333ef56abc86ad143", "8415fc1", "2025-05-24"),
        ("ac782499e43501984d44dfd414b0a1e54b1c3bdd", "0a30c30", "2025-05-30"),
        ("11edfb2dca81ab7d096abe8091f27a8600494c46", "b070fb3", "2025-06-23"),
        ("045ee9d8146369f1a240caf521e4b4d5f34619d8", "82f34fd", "2025-06-23"),
        ("a2f7539b406a7a466d554e15a22342dbfe53c461", "f0a4a97", "2025-08-09"),
    ]),
    **_mmau("test", "2024", [
        ("70e3d3be30771f8ce54611ec54755d99af4d0039", "5bd2fde", "2024-10-24"),
        ("47b7de0e466c8718aa0f7436663a315046ed5dbe", "2f5ae66", "2024-10-25"),
        ("2265402679badf3988efc05c2131d2e499e76d9c", "f5e4d39", "2024-10-25"),
        ("13f3982f92d29f8e07d7a1df6a4d296fa3632dd3", "f321d31", "2024-10-29"),
        ("5a28c68baca0d3f54f6b75d4e78f33a8bfbc5a70", "bbd659a", "2024-12-09"),
        ("347746bd388c06ccfcce666f5fc7042c79d58827", "4a42199", "2024-12-09"),
        ("52452f1ece9e3e48d5d613a5f020eb4962c2331e", "a5cd89a", "2025-01-28"),
    ]),
    **_mmau("test", "v05.15.25", [
        ("e77e28385c8b2469183f007a0953b9e7aca33ce2", "1de7db1", "2025-05-15"),
        ("ecad88087cc30dabd193c26ac0cbdaddbf8df405", "c6b1748", "2025-05-16"),
        ("a3c9801696423afca95654370489c8b41263c779", "5904c90", "2025-05-18"),
        ("302e2c1dc7fc0bccd0fa5205d034ca8903567eea", "3d87e5b", "2025-05-19"),
        ("f0a58996fd47285a60426bfcf2bac6ec0bf4b61d", "a2897e2", "2025-05-19"),
        ("3dd11a427ba88e5b9b7430650c909c6b17ed896f", "c9a0d36", "2025-05-22"),
        ("344d99bb206f8be8e69b4507988556fb52b36b02", "8415fc1", "2025-05-24"),
    ]),
    "f85f63286907090251f316c18d9b5e17e51cab99": Release(
        "mmar", "test", "2025", "ddlBoJack/MMAR", "MMAR-meta.json", "6249700", "2025-05-11"
    ),
    "3a1a26748bfeede58b16c4a1877daa398285f30b": Release(
        "mmar", "test", "2026", "ddlBoJack/MMAR", "MMAR-meta.jsonl", "a355584", "2026-02-16"
    ),
}  # fmt: skip


def git_blob_id(data):
    """The git blob id (SHA-1 of ``b"blob <size>\\0" + data``) of a file's bytes."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def identify(path):
    """The :class:`Release` the file at ``path`` is, or None for a file not in :data:`KNOWN_FILES`.

    Example
    -------
    >>> path = getfixture("tmpdir").join("mmau-test-mini.json")
    >>> _ = path.write("[]")
    >>> identify(str(path)) is None
    True
    """
    if os.path.getsize(path) > 256 * 1024 * 1024:  # no benchmark file is this large; do not read it to hash
        return None
    with open(path, "rb") as f:
        return KNOWN_FILES.get(git_blob_id(f.read()))
