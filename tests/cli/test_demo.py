"""`intake demo` as a person runs it: a real process, typed into through a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

import crypto

_BUTTONS = re.compile(r"\[(\d+)\] (.+?)(?=\s{2}\[\d+\]|$)", re.MULTILINE)
_PROMPT = "you> "


class Terminal:
    """`intake demo --interactive` on a pseudo-terminal, read and typed into as a person would."""

    def __init__(self, *args: str) -> None:
        self.primary, secondary = pty.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "demo", "--interactive", *args],
            stdin=secondary, stdout=secondary, stderr=secondary, close_fds=True,
            env={**os.environ, "COLUMNS": "200"},
        )
        os.close(secondary)
        self.output = ""
        self._read_upto = 0

    def read_until(self, needle: str, timeout: float = 60.0) -> str:
        """Everything printed since the last call, up to and including `needle`."""
        deadline = time.monotonic() + timeout
        while needle not in self.output[self._read_upto :]:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._read(remaining):
                raise AssertionError(f"{needle!r} never came; the screen ends with:\n"
                                     f"{self.output[-2000:]}")
        end = self.output.index(needle, self._read_upto) + len(needle)
        chunk, self._read_upto = self.output[self._read_upto : end], end
        return chunk

    def _read(self, timeout: float) -> bool:
        ready, _w, _x = select.select([self.primary], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.primary, 65536)
        except OSError:  # the process ended and closed its side
            return False
        self.output += data.decode("utf-8", "replace").replace("\r\n", "\n")
        return bool(data)

    def type(self, line: str) -> None:
        os.write(self.primary, (line + "\n").encode())

    def press(self, screen: str, label: str) -> None:
        """Type the number the demo shows for the button `label` on the last prompt."""
        buttons = {text.strip(): number for number, text in _BUTTONS.findall(screen)}
        assert label in buttons, f"no button {label!r} on:\n{screen}"
        self.type(buttons[label])

    def finish(self, timeout: float = 60.0) -> str:
        while self._read(timeout):
            pass
        assert self.process.wait(timeout) == 0, self.output[-2000:]
        os.close(self.primary)
        return self.output[self._read_upto :]


@pytest.fixture
def terminal() -> object:
    made: list[Terminal] = []

    def start(*args: str) -> Terminal:
        made.append(Terminal(*args))
        return made[-1]

    yield start
    for term in made:
        if term.process.poll() is None:
            term.process.kill()
            term.process.wait()


def test_interactive_demo_in_english_reaches_the_receipt(terminal: object) -> None:
    """Typed through a pseudo-terminal, the English demo goes past the question that mentions
    the receipt code, to Send, the receipt and the report opened with the demo key; on the way,
    "No, I am in danger" is acknowledged and words typed at the files step are kept."""
    term = terminal()  # type: ignore[operator]
    steps = [("press", "Yes, continue"), ("press", "Arrest or detention"),
             ("type", "Two people were taken from the market."), ("press", "Skip"),
             ("press", "Yesterday"), ("type", "Central market"), ("press", "Other people"),
             ("press", "Done"), ("press", "Skip"), ("type", "here is my photo"),
             ("press", "Done"), ("press", "No, I am in danger"), ("press", "Yes")]
    screen = transcript = term.read_until(_PROMPT)
    for action, value in steps:
        if action == "press":
            term.press(screen, value)
        else:
            term.type(value)
        screen = term.read_until(_PROMPT)
        transcript += screen
    assert "Please check your report" in screen
    assert "• Files: your note: here is my photo" in screen
    assert "Thank you for telling us" in transcript
    term.press(screen, "Send")
    rest = term.finish()
    assert "Your receipt code is:" in rest
    assert re.search(r"\d{4}-\d{4}-\d{4}-\d{4}-\d{4}", rest)
    assert "1 message(s) are left on the phone: the receipt" in rest
    # The reviewer opened it: the answers, the note typed at the files step.
    assert "Two people were taken from the market." in rest
    assert "the witness's note: here is my photo" in rest
    assert "End of the demo." in rest


def test_quitting_the_interactive_demo_claims_no_receipt(terminal: object) -> None:
    """After /forget (the bot deletes the chat) and /quit, nothing was sent: the demo says so
    and never claims a receipt is left on the phone."""
    term = terminal()  # type: ignore[operator]
    screen = term.read_until(_PROMPT)
    term.press(screen, "Yes, continue")
    term.read_until(_PROMPT)
    term.type("/forget")
    assert "Deleted what the bot could" in term.read_until(_PROMPT)
    term.type("/quit")
    rest = term.finish()
    assert "receipt" not in rest.lower()
    assert "nothing was sent" in rest.lower()


def test_demo_runs_twice_on_one_data_dir_and_audits_its_reviewer(tmp_path: Path) -> None:
    """`intake demo --data-dir DIR` works a second time on the same folder, and the demo
    reviewer's registration is in the (intact) audit trail, once."""
    data = tmp_path / "demo-data"
    environment = {**os.environ, "INTAKE_DATA_DIR": str(data)}
    runs = [
        subprocess.run([sys.executable, "-m", "cli.main", "demo", "--data-dir", str(data)],
                       capture_output=True, text=True, timeout=180, env=environment, check=False)
        for _ in range(2)
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr[-2000:]
        assert "End of the demo." in run.stdout
    assert runs[1].stdout.count("received") >= 2  # the queue lists both reports
    shown = subprocess.run([sys.executable, "-m", "cli.main", "audit", "show"],
                           capture_output=True, text=True, timeout=60, env=environment,
                           check=True)
    additions = [line for line in shown.stdout.splitlines() if "recipient.add" in line]
    assert len(additions) == 2, shown.stdout
    assert "demo-reviewer" in additions[0] and "demo-partner-reviewer" in additions[1]
    channels = [line for line in shown.stdout.splitlines() if "channel.add" in line]
    assert len(channels) == 1 and "demo-partner" in channels[0], shown.stdout
    # Each run's report went through the partner's link, and its key opened it.
    for run in runs:
        assert "The report went to the channel 'demo-partner'" in run.stdout
        assert "Two people were taken from the market" in run.stdout
    verified = subprocess.run([sys.executable, "-m", "cli.main", "audit", "verify"],
                              capture_output=True, text=True, timeout=60, env=environment,
                              check=False)
    assert verified.returncode == 0 and "audit trail intact" in verified.stdout


def test_a_demo_report_to_a_channel_without_a_demo_key_ends_kindly(
    terminal: object, tmp_path: Path
) -> None:
    """A kept demo folder with a channel made by `intake channel add` (its own reviewer, not a
    demo key): a witness who follows its link and sends gets the receipt, and the demo says
    who can open the report instead of failing to decrypt it (it used to crash)."""
    data = tmp_path / "demo-data"
    environment = {**os.environ, "INTAKE_DATA_DIR": str(data)}
    first = subprocess.run([sys.executable, "-m", "cli.main", "demo", "--data-dir", str(data)],
                           capture_output=True, text=True, timeout=180, env=environment,
                           check=False)
    assert first.returncode == 0, first.stderr[-2000:]
    for command in (["channel", "add", "river", "--name", "River Legal Aid"],
                    ["reviewer", "add", "--name", "rita", "--channel", "river", "--recipient",
                     str(crypto.generate_identity().recipient)]):
        subprocess.run([sys.executable, "-m", "cli.main", *command], capture_output=True,
                       text=True, timeout=60, env=environment, check=True)
    term = terminal("--data-dir", str(data))  # type: ignore[operator]
    screen = term.read_until(_PROMPT)
    term.type("/start river")
    screen = term.read_until("Before we start")
    screen = term.read_until(_PROMPT)
    steps = [("press", "Yes, continue"), ("press", "Something else"),
             ("type", "It happened by the river."), ("press", "Today"), ("type", "The bridge"),
             ("press", "Me"), ("press", "Done"), ("press", "Skip"), ("press", "Skip"),
             ("press", "Skip"), ("press", "Skip"), ("press", "Send")]
    for action, value in steps:
        if action == "press":
            term.press(screen, value)
        else:
            term.type(value)
        if value == "Send":
            break
        screen = term.read_until(_PROMPT)
    rest = term.finish()
    assert "Your receipt code is:" in rest
    assert "The report went to the channel 'river'" in rest
    assert "cannot open it" in rest and "Traceback" not in rest
    assert "It happened by the river." not in rest
