"""The command line: translate and summarize files, stdin, JSON, errors and startup failures."""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from pathlib import Path

import httpx
import pytest

from service.cli import main
from service.config import Settings
from tests.conftest import ROOT, free_port, model_env, start_server


@pytest.fixture
def tiny_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in model_env(settings).items():
        if name.startswith("DEPECHE_"):
            monkeypatch.setenv(name, value)


@pytest.fixture
def articles(tmp_path: Path, memorized_pairs: list[tuple[str, str]]) -> list[Path]:
    paths = []
    for i in range(3):
        path = tmp_path / f"article{i}.txt"
        path.write_text(
            f"{memorized_pairs[i][0]}\n\n{memorized_pairs[i + 1][0]}\n", encoding="utf-8"
        )
        paths.append(path)
    return paths


@pytest.mark.usefixtures("tiny_env")
def test_translate_text(
    articles: list[Path], memorized_pairs: list[tuple[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["translate", str(articles[0])]) == 0
    assert capsys.readouterr().out == f"{memorized_pairs[0][1]}\n\n{memorized_pairs[1][1]}\n"


@pytest.mark.usefixtures("tiny_env")
def test_summarize_json_from_stdin(
    monkeypatch: pytest.MonkeyPatch,
    memorized_pairs: list[tuple[str, str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(memorized_pairs[2][0]))
    assert main(["summarize", "-", "--json", "--title", memorized_pairs[3][0]]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["translation"]["title"] == memorized_pairs[3][1]
    assert body["translation"]["paragraphs"] == [memorized_pairs[2][1]]
    assert body["key_points"]
    assert body["meta"]["strategy"] == "single"


@pytest.mark.usefixtures("tiny_env")
def test_several_files_with_progress(
    articles: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["summarize", "--json", *map(str, articles)]) == 0
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    assert [line["file"] for line in lines] == [str(p) for p in articles]
    assert "3/3" in captured.err  # the progress bar went to stderr


@pytest.mark.usefixtures("tiny_env")
def test_text_output_of_summarize(articles: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summarize", str(articles[1])]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Key points:\n- ")
    assert "\nTranslation:\n" in out


@pytest.mark.usefixtures("tiny_env")
def test_bad_file_fails_but_others_run(
    articles: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("   \n")
    assert main(["translate", str(empty), str(tmp_path / "missing.txt"), str(articles[0])]) == 1
    captured = capsys.readouterr()
    assert "empty.txt: empty_text: The article text is empty" in captured.err
    assert "missing.txt" in captured.err
    assert "== " + str(articles[0]) in captured.out


@pytest.mark.usefixtures("tiny_env")
def test_html_files_and_source_lang(
    tmp_path: Path, memorized_pairs: list[tuple[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "article.html"
    page.write_text(
        f"<h2>{memorized_pairs[0][0]}</h2><script>alert(1)</script><p>{memorized_pairs[1][0]}</p>",
        encoding="utf-8",
    )
    english = tmp_path / "english.txt"
    english.write_text("Bonjour.\n\nAu revoir.\n", encoding="utf-8")
    assert main(["translate", "--html", "--json", str(page)]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["translation"]["paragraphs"] == [en for _, en in memorized_pairs[:2]]
    assert [b["kind"] for b in body["translation"]["blocks"]] == ["h2", "p"]
    # --source-lang en: kept as it is, nothing translated
    assert main(["translate", "--source-lang", "en", str(english)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "Bonjour.\n\nAu revoir.\n"
    assert "warning: input is English: translation skipped" in captured.err


def test_missing_model_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEPECHE_TRANSLATION_MODEL", str(tmp_path / "absent"))
    assert main(["translate", "-"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: The translation model folder")
    assert err.count("\n") == 1


@pytest.mark.slow
def test_serve_exits_fast_when_the_hub_is_unreachable(tmp_path: Path) -> None:
    """Default hub ids, nothing fetched, no hub: one clear message, non-zero exit, within 30 s."""
    port = free_port()
    env = model_env(Settings(), DEPECHE_MODELS_DIR=str(tmp_path), DEPECHE_PORT=str(port))
    for name in ("DEPECHE_TRANSLATION_MODEL", "DEPECHE_SUMMARY_MODEL", "DEPECHE_OFFLINE"):
        env.pop(name)
    (tmp_path / "manifest.json").write_text((ROOT / "models" / "manifest.json").read_text())
    env.update(HF_HUB_CACHE=str(tmp_path / "cache"), HF_ENDPOINT=f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    process = start_server(env, tmp_path / "server.log")
    ready_codes = []
    while process.poll() is None and time.monotonic() - started < 40:
        with contextlib.suppress(httpx.HTTPError):
            ready_codes.append(httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code)
        time.sleep(0.2)
    process.wait(timeout=10)
    elapsed = time.monotonic() - started
    output = (tmp_path / "server.log").read_text()
    assert process.returncode == 2, output
    assert elapsed < 30
    assert 200 not in ready_codes
    errors = [line for line in output.splitlines() if " ERROR " in line]
    assert len(errors) == 1, output
    assert "cannot be reached" in errors[0]
    assert "fetch_models.py" in errors[0]
    assert "Traceback" not in output


@pytest.mark.usefixtures("tiny_env")
def test_any_failure_is_one_line_per_file_and_the_others_run(
    articles: list[Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Whatever goes wrong with a file (a bug included), the CLI names the file with the error
    envelope's code and message, prints no traceback, runs every other file, and exits 1."""
    from service.pipeline import Pipeline

    real = Pipeline.summarize

    def summarize(self: Pipeline, article: object, **kwargs: object) -> object:
        if "BOUM" in str(getattr(article, "text", "")):
            raise ValueError("input of 257 tokens exceeds the 256-token window\nsecond line")
        return real(self, article, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Pipeline, "summarize", summarize)
    boom = tmp_path / "boom.txt"
    boom.write_text("BOUM. Le texte fait échouer le modèle.\n", encoding="utf-8")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Le café est fermé.".encode("latin-1"))
    files = [boom, articles[0], latin1, tmp_path / "missing.txt", articles[1]]
    assert main(["summarize", "--json", *map(str, files)]) == 1
    captured = capsys.readouterr()
    done = [json.loads(line)["file"] for line in captured.out.splitlines()]
    assert done == [str(articles[0]), str(articles[1])]
    errors = [line for line in captured.err.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: {boom}: internal_error: The article failed unexpectedly (ValueError: input of "
        "257 tokens exceeds the 256-token window second line).",
        f"error: {latin1}: invalid_unicode: The file is not valid UTF-8 (byte 0xE9 at offset 6): "
        "send it encoded in UTF-8.",
        f"error: {tmp_path / 'missing.txt'}: unreadable_file: No such file or directory",
    ]
    assert "Traceback" not in captured.err


@pytest.mark.usefixtures("tiny_env")
def test_stdin_that_is_not_utf8_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b"Bonjour \xff le monde."), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    assert main(["translate", "-"]) == 1
    err = capsys.readouterr().err
    assert "error: -: invalid_unicode: stdin is not valid UTF-8 (byte 0xFF at offset 8)" in err
