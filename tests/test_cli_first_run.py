"""What a new user meets first, through the real `footfall` command: the version, the help's pointers into the
README (each names a heading that is there), and the README's table of `footfall run` options (each option of
`footfall run --help` is in it)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO
from vision import __version__

FOOTFALL = Path(sys.executable).with_name("footfall")
README = (REPO / "README.md").read_text(encoding="utf-8")
WIDE = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1"}  # help text on one line per option, for reading it back


def footfall(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(FOOTFALL), *args], capture_output=True, text=True, timeout=120, env=WIDE)


def headings() -> list[str]:
    """The README's headings (outside code blocks), without their #."""
    found, fenced = [], False
    for line in README.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            found.append(line.lstrip("#").strip())
    return found


def readme_references(text: str) -> list[str]:
    """What follows each "README: " (up to 120 characters, lines joined: a docstring may wrap a heading)."""
    joined = " ".join(text.replace("│", " ").split())
    return [match.group(1)[:120] for match in re.finditer(r"README: (.+?)(?=README: |$)", joined)]


def names_a_heading(reference: str) -> bool:
    return any(reference.startswith(heading) for heading in headings() if heading != "footfall")


def quoted_readme_references(text: str) -> list[str]:
    """The headings named in quotes after the README: `README "Accuracy"`, `README, "Calibration file"`, `README
    'Calibration file'`."""
    joined = " ".join(text.split())
    return re.findall(r"README,? \"([^\"]+)\"", joined) + re.findall(r"README,? '([^'\s][^']*)'", joined)


@pytest.mark.parametrize("command", [[str(FOOTFALL)], [sys.executable, "-m", "vision"]])
def test_version_prints_the_version(command: list[str]) -> None:
    result = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout.strip()) == (0, f"footfall {__version__}"), result.stderr


def test_no_command_shows_the_commands() -> None:
    result = footfall()
    assert "Usage: footfall" in result.stdout + result.stderr
    for command in ("run", "batch", "serve", "report", "dashboard", "calibrate"):
        assert re.search(rf"│ {command}\b", result.stdout + result.stderr), command


def test_every_pointer_into_the_readme_names_a_heading_that_is_there() -> None:
    sources = [path for folder in ("vision", "calibration") for path in (REPO / folder).rglob("*.py")]
    references = [(path, ref) for path in sources for ref in readme_references(path.read_text(encoding="utf-8"))]
    assert len(references) >= 5
    for command in ("run", "batch", "serve", "report", "dashboard"):
        help_text = footfall(command, "--help").stdout
        references += [(f"footfall {command} --help", ref) for ref in readme_references(help_text)]
    missing = [f"{where}: README: {ref}" for where, ref in references if not names_a_heading(ref)]
    assert missing == [], f"no such README heading: {missing}"
    serve_help = footfall("serve", "--help").stdout
    assert "README: `footfall serve`: live cameras around the clock" in " ".join(serve_help.split())


def test_quoted_pointers_name_a_heading_and_none_is_bare() -> None:
    """`README "Heading"` names a heading exactly, and no help or message says just "see README" (which part?)."""
    sources = [path for folder in ("vision", "calibration") for path in (REPO / folder).rglob("*.py")]
    texts = {path: path.read_text(encoding="utf-8") for path in sources}
    for command in ("run", "batch", "serve", "report", "dashboard", "validate", "calibrate"):
        texts[f"footfall {command} --help"] = footfall(command, "--help").stdout
    quoted = [(where, ref) for where, text in texts.items() for ref in quoted_readme_references(text)]
    assert len(quoted) >= 2
    assert [f"{where}: {ref!r}" for where, ref in quoted if ref not in headings()] == []
    bare = [where for where, text in texts.items() if re.search(r"README\s*(\)|\.(?!md))", " ".join(text.split()))]
    assert bare == [], f"a pointer into the README that names no heading: {bare}"


def test_a_foreign_calibration_is_refused_with_a_pointer_to_a_heading(tmp_path: Path) -> None:
    """The calibration error tells where the two layouts are described: a README heading that is there."""
    foreign = tmp_path / "foreign.json"
    foreign.write_text('{"K": [[1, 0, 0], [0, 1, 0], [0, 0, 1]], "dist": [0, 0, 0, 0, 0]}')
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")  # never opened: the calibration is read first
    result = footfall("run", str(video), "--calibration", str(foreign), "--out", str(tmp_path / "out"))
    assert result.returncode == 1, result.stderr
    assert "foreign.json: not a footfall calibration" in result.stderr
    references = quoted_readme_references(result.stderr)
    assert references == ["Calibration file"] and references[0] in headings(), result.stderr
    assert not (tmp_path / "out").exists()


def test_the_readme_lists_every_option_of_footfall_run() -> None:
    help_text = footfall("run", "--help").stdout
    options = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]+)", help_text)) - {"--help"}
    assert {"--site", "--device", "--export", "--int8", "--threads", "--gate", "--plan"} <= options
    section = README.split("## `footfall run`", 1)[1].split("\n## ", 1)[0]
    table = "\n".join(line for line in section.splitlines() if line.startswith("| `"))
    missing = sorted(option for option in options if f"`{option}`" not in table)
    assert missing == [], f"footfall run options missing from the README's table: {missing}"
