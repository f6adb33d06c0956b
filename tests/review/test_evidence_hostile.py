"""An opposing expert's second round: what the first forged-bundle suite did not try.

Files nothing signed covers (an added "original", report.txt), JSON built to crash a parser,
and anchors that are the bundle's own files. Each forgery is resealed (SHA256SUMS and
VERIFY.txt rewritten), as anyone can.
"""

from __future__ import annotations

import json
from pathlib import Path

from review.evidence.anchors import AnchorError, load_anchors
from review.evidence.verdict import FAILED, OK, examine
from storage import Storage
from tests.review.forgery_support import (
    copy_of,
    exported,
    hashes_of,
    pins_for,
    reasons,
    reseal,
    verify_cli,
    write_hashes,
)
from tests.review.tsa import LocalTsa, local_tsa, tsa_pki

__all__ = ["local_tsa", "tsa_pki"]  # fixtures


async def test_a_file_added_among_the_items_is_refused(
    storage: Storage, local_tsa: LocalTsa, tmp_path: Path
) -> None:
    """An extra "photo" in originals/ (or a sealed/, disclosure/, working-copies/ file) that no
    item names is not evidence of anything: verify must not say OK over it."""
    anchored, bundle = await exported(storage, local_tsa, tmp_path)
    pins = pins_for(anchored, local_tsa.pki, tmp_path)
    for folder in ("originals", "working-copies", "sealed", "disclosure"):
        forged = copy_of(bundle, tmp_path, f"added-{folder}")
        (forged / folder / "09-photo.jpg").write_bytes(b"\xff\xd8\xff a forged photo \xff\xd9")
        reseal(forged)
        verdict = examine(forged, pins)
        assert verdict.status == FAILED, folder
        assert verdict.problems == [(f"{folder}/09-photo.jpg", verdict.problems[0][1])], folder
        assert "no item of hashes.json names it" in verdict.problems[0][1]


async def test_a_look_alike_name_cannot_hide_a_swapped_original(
    storage: Storage, local_tsa: LocalTsa, tmp_path: Path
) -> None:
    """The genuine original moved to a look-alike name (Cyrillic "о") that hashes.json points
    to, and a forged file put where the examiner looks: the forged one is named."""
    anchored, bundle = await exported(storage, local_tsa, tmp_path)
    forged = copy_of(bundle, tmp_path, "look-alike")
    document = hashes_of(forged)
    entry = next(e for e in document["items"] if e["role"] == "attachment")
    genuine = entry["decrypted_file"]
    look_alike = genuine[:-2] + "\u0456" + genuine[-1]  # Cyrillic і for the i of .bin
    assert look_alike != genuine
    (forged / genuine).rename(forged / look_alike)
    (forged / genuine).write_bytes(b"forged")
    entry["decrypted_file"] = look_alike
    write_hashes(forged, document)
    reseal(forged)
    verdict = examine(forged, pins_for(anchored, local_tsa.pki, tmp_path))
    assert verdict.status == FAILED
    assert (genuine, verdict.problems[0][1]) in verdict.problems, reasons(verdict)


async def test_ok_does_not_vouch_for_what_nothing_signed_covers(
    storage: Storage, local_tsa: LocalTsa, tmp_path: Path
) -> None:
    """report.txt is written at export from the originals; nothing signed or timestamped covers
    it, so a rewritten one passes every check. The OK text must say so, never "every file is
    as exported" (SHA256SUMS and VERIFY.txt are rewritten by anyone)."""
    anchored, bundle = await exported(storage, local_tsa, tmp_path)
    forged = copy_of(bundle, tmp_path, "report")
    (forged / "report.txt").write_text("The witness saw nothing.\n")
    reseal(forged)
    pins = pins_for(anchored, local_tsa.pki, tmp_path)
    assert examine(forged, pins).status == OK  # the limit, stated below
    code, out = await verify_cli(str(forged), "--custody-key",
                                  str(tmp_path / "published-custody.pub.pem"),
                                  "--tsa-ca", str(local_tsa.pki.ca_cert))
    assert code == 0, out
    assert "every file is as exported" not in out
    not_proven = out.split("Not proven:", 1)[1]
    for name in ("report.txt", "collection.txt", "collection.json", "processing/"):
        assert name in not_proven, name
    assert "originals/NN-answers.json" in not_proven


async def test_json_built_to_crash_a_parser_fails_with_one_line(
    storage: Storage, local_tsa: LocalTsa, tmp_path: Path
) -> None:
    """Nesting past the parser's recursion limit and numbers past float range (1e999 reads as
    infinity, which int() cannot take) in any JSON of the bundle: FAILED, exit 1, no
    traceback (verify_cli does not catch exceptions)."""
    anchored, bundle = await exported(storage, local_tsa, tmp_path)
    key = tmp_path / "published-custody.pub.pem"
    pins = pins_for(anchored, local_tsa.pki, tmp_path)
    deep = "[" * 100_000 + "]" * 100_000
    forgeries: dict[str, object] = {
        "manifest.json": deep, "hashes.json": deep, "timestamps/proofs.json": deep,
        "custody/chain.jsonl": deep + "\n",
    }
    document = hashes_of(bundle)
    document["items"][0]["header_bytes"] = float("inf")
    forgeries["hashes.json#inf"] = document
    proofs = json.loads((bundle / "timestamps/proofs.json").read_bytes())
    proofs[0]["leaf_index"] = float("inf")
    forgeries["timestamps/proofs.json#inf"] = proofs
    proofs = json.loads((bundle / "timestamps/proofs.json").read_bytes())
    proofs[0]["bytes"] = float("inf")
    forgeries["timestamps/proofs.json#inf-bytes"] = proofs
    for number, (target, content) in enumerate(forgeries.items()):
        forged = copy_of(bundle, tmp_path, f"hostile-{number}")
        name = target.split("#")[0]
        text = content if isinstance(content, str) else json.dumps(content)  # writes Infinity
        (forged / name).write_text(text)
        if name not in ("hashes.json", "timestamps/proofs.json", "custody/chain.jsonl"):
            reseal(forged)  # (reseal itself parses those)
        assert examine(forged, pins).status == FAILED, target
        code, out = await verify_cli(str(forged), "--custody-key", str(key),
                                      "--tsa-ca", str(local_tsa.pki.ca_cert))
        assert code == 1, (target, out)
        assert "Traceback" not in out and "FAILED  " in out, target


async def test_anchors_from_inside_the_bundle_are_refused(
    storage: Storage, local_tsa: LocalTsa, tmp_path: Path
) -> None:
    """A forged bundle shipping anchors.toml (pointing at its own custody.pub.pem and CA) and
    instructions to use it: an anchor must come from outside the bundle."""
    _anchored, bundle = await exported(storage, local_tsa, tmp_path)
    ca = next(bundle.glob("timestamps/*/tsa-1-ca.pem")).relative_to(bundle)
    (bundle / "anchors.toml").write_text(
        f'custody_key_files = ["custody.pub.pem"]\ntsa_ca_files = ["{ca.as_posix()}"]\n')
    try:
        load_anchors(config=bundle / "anchors.toml", bundle=bundle)
    except AnchorError as error:
        assert "inside the bundle" in str(error)
    else:
        raise AssertionError("anchors inside the bundle were accepted")
    for option, path in (("--custody-key", bundle / "custody.pub.pem"),
                         ("--tsa-ca", bundle / ca), ("--anchors", bundle / "anchors.toml")):
        code, out = await verify_cli(str(bundle), option, str(path))
        assert code == 2 and "inside the bundle" in out, (option, out)
    # The same files copied outside are the examiner's choice (and the genuine key here).
    outside = tmp_path / "outside.pub.pem"
    outside.write_bytes((bundle / "custody.pub.pem").read_bytes())
    load_anchors(custody_key_files=[outside], bundle=bundle)


def test_limits_that_are_not_numbers_are_refused_with_one_line(tmp_path: Path) -> None:
    for line in ('max_gap_hours = "two days"', "max_gap_hours = nan", "max_gap_hours = -1",
                 "max_file_size = -1", 'max_file_size = "4G"', "max_file_size = 1.5"):
        config = tmp_path / "anchors.toml"
        config.write_text(line + "\n")
        try:
            load_anchors(config=config)
        except AnchorError as error:
            assert "anchors.toml: max_" in str(error) and "\n" not in str(error), line
        else:
            raise AssertionError(f"{line} was accepted")
    for gap in (float("nan"), float("inf"), -2.0):
        try:
            load_anchors(max_gap_hours=gap)
        except AnchorError as error:
            assert "--max-gap-hours" in str(error)
        else:
            raise AssertionError(f"--max-gap-hours {gap} was accepted")


async def test_the_custody_check_itself_never_blocks_on_a_pipe(
    storage: Storage, local_tsa: LocalTsa, tmp_path: Path
) -> None:
    """The walk refuses pipes before any check runs; a file swapped for a named pipe after the
    walk must still not block a check (reading.py's promise), the custody chain's included."""
    import os
    import threading

    from review.custody.verify import check_custody_chain

    _anchored, bundle = await exported(storage, local_tsa, tmp_path)
    for name in ("custody/chain.jsonl", "custody/chain-000001.json", "custody.pub.pem"):
        forged = copy_of(bundle, tmp_path, f"pipe-{name.replace('/', '_')}")
        (forged / name).unlink()
        os.mkfifo(forged / name)
        found: list[list[tuple[str, str]]] = []
        # A daemon thread: if the check blocks on the pipe, the test fails instead of hanging.
        worker = threading.Thread(
            target=lambda f=forged, out=found: out.append(check_custody_chain(f)), daemon=True)
        worker.start()
        worker.join(20)
        assert found, f"the custody check blocked on {name}, a named pipe"
        problems = found[0]
        assert any(n == name and "refused unread" in why for n, why in problems), problems


def test_a_thousand_nested_folders_fail_with_one_line(tmp_path: Path) -> None:
    """Folders nested past Python's recursion limit, a symlink at the bottom: FAILED, exit 1,
    the symlink named, not a traceback."""
    import os
    import subprocess

    from click.testing import CliRunner

    from cli.main import main

    bundle = tmp_path / "deep"
    bundle.mkdir()
    here = os.getcwd()
    try:
        os.chdir(bundle)
        for _ in range(1100):
            os.mkdir("a")
            os.chdir("a")
        os.symlink("/dev/zero", "x")  # found however deep it is
    finally:
        os.chdir(here)
    try:
        result = CliRunner().invoke(main, ["verify", str(bundle)], catch_exceptions=False)
    finally:  # pytest's own clean-up (shutil.rmtree) recurses too deep for this tree
        subprocess.run(["rm", "-rf", str(bundle)], check=True)
    assert result.exit_code == 1, result.output
    assert "a/" * 1100 + "x: is a symbolic link: refused unread" in result.output
