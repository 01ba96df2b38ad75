"""The `extract` and `perplexity` commands: results, and one-line errors for bad input."""

import json

import pytest
from conftest import SHARED, STORIES
from conftest import VALID_TEXT as VALID
from conftest import run_cli as run

from headcode.models.dump import open_dump

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def _shared():
    if not (STORIES.is_dir() and VALID.is_file()):
        pytest.skip(f"stories260K or valid-a.txt not found under {SHARED} (../shared is absent)")



def test_perplexity_json(monkeypatch, capsys):
    code, out, _ = run(
        monkeypatch, capsys, "perplexity", "--model", STORIES, "--text", VALID,
        "--sequences", 20, "--device", "cpu", "--json",
    )  # fmt: skip
    assert code == 0
    result = json.loads(out)
    assert result["sequences"] == 20 and result["tokens"] == 2099
    assert abs(result["ppl"] - 3.974) < 1e-3


def test_extract_writes_a_dump(monkeypatch, capsys, tmp_path):
    out = tmp_path / "d"
    args = ["extract", "--model", STORIES, "--text", VALID, "--sequences", 5]
    code, stdout, _ = run(monkeypatch, capsys, *args, "--max-tokens", 32, "--out", out)
    assert code == 0 and stdout.startswith(f"wrote {out}: 5 sequences")
    dump = open_dump(out)
    assert len(dump) == 5 and max(dump.length(s) for s in range(5)) <= 32
    code, _, err = run(monkeypatch, capsys, *args, "--out", out)
    assert code == 2 and "already exists" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "{tmp}", "--text", VALID], "has no config.json"),
        (["--model", STORIES, "--text", "{tmp}/missing.txt"], "no such file"),
        (["--model", STORIES, "--text", "{tmp}/empty.txt"], "empty"),
        (["--model", STORIES, "--text", VALID, "--dtype", "fp8"], "unknown dtype"),
    ],
)
def test_bad_input_is_one_line(monkeypatch, capsys, tmp_path, args, message):
    (tmp_path / "empty.txt").write_text("\n\n")
    args = [str(a).replace("{tmp}", str(tmp_path)) for a in args]
    for command in (["perplexity"], ["extract", "--out", tmp_path / "d"]):
        code, out, err = run(monkeypatch, capsys, *command, *args, "--device", "cpu")
        assert code == 2 and out == ""
        assert err.startswith("error: ") and message in err and err.count("\n") == 1
