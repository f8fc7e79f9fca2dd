"""The curl client against a real uvicorn on 127.0.0.1 running the tiny models."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.config import Settings
from tests.conftest import (
    DATA,
    ROOT,
    SAMPLE_ARTICLE,
    free_port,
    model_env,
    start_server,
    wait_ready,
)

SCRIPT = ROOT / "scripts" / "summarize.sh"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("curl") is None, reason="the client needs curl"),
]


@pytest.fixture(scope="module")
def server_url(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    env = model_env(settings, DEPECHE_PORT=str(port), DEPECHE_HOST="127.0.0.1")
    log = tmp_path_factory.mktemp("server") / "server.log"
    process = start_server(env, log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, log, timeout=60)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def path_without(tmp_path: Path, *hidden: str) -> str:
    """A PATH that has every command of the current one except `hidden` ones."""
    shadow = tmp_path / "bin"
    shadow.mkdir(exist_ok=True)
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for entry in os.listdir(folder):
            target = shadow / entry
            if entry not in hidden and not target.exists():
                target.symlink_to(Path(folder) / entry)
    return str(shadow)


def run_client(
    *args: str, path: str | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def check_output(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stderr
    key_points, translation = result.stdout.split("Translation:", 1)
    assert key_points.startswith("Key points:\n- ")
    # The tiny model's English is nonsense, but every one of the 10 paragraphs is there.
    assert len([p for p in translation.strip().split("\n\n") if p.strip()]) == 10


def test_sample_article_with_default_file(server_url: str) -> None:
    check_output(run_client(str(SAMPLE_ARTICLE), server_url))
    check_output(run_client("", server_url))  # empty FILE argument: the bundled sample


@pytest.mark.parametrize("hidden", [("jq",), ("jq", "python3")])
def test_without_jq(server_url: str, tmp_path: Path, hidden: tuple[str, ...]) -> None:
    result = run_client(str(SAMPLE_ARTICLE), server_url, path=path_without(tmp_path, *hidden))
    if "python3" in hidden:  # neither formatter: the raw JSON answer is printed
        assert result.returncode == 0, result.stderr
        assert '"key_points"' in result.stdout
    else:
        check_output(result)


def test_stdin_and_error_envelope(server_url: str, memorized_pairs: list[tuple[str, str]]) -> None:
    ok = run_client("-", server_url, stdin=memorized_pairs[0][0])
    assert ok.returncode == 0, ok.stderr
    assert memorized_pairs[0][1] in ok.stdout
    bad = run_client("-", server_url, stdin="   ")
    assert bad.returncode != 0
    assert "empty_text" in bad.stderr


@pytest.fixture(scope="module")
def planted_url(
    settings: Settings, test_models: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A server whose summarizer is the planted one (tests/data/planted_summary.json)."""
    port = free_port()
    env = model_env(
        settings,
        DEPECHE_PORT=str(port),
        DEPECHE_HOST="127.0.0.1",
        DEPECHE_SUMMARY_MODEL=str(test_models / "summary-planted"),
    )
    log = tmp_path_factory.mktemp("planted") / "server.log"
    process = start_server(env, log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process, log, timeout=60)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.parametrize("hidden", [(), ("jq",)])
def test_flags_in_plain_words(planted_url: str, tmp_path: Path, hidden: tuple[str, ...]) -> None:
    planted = json.loads((DATA / "planted_summary.json").read_text(encoding="utf-8"))
    path = path_without(tmp_path, *hidden) if hidden else None
    result = run_client("-", planted_url, stdin="\n\n".join(planted["article"]), path=path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    flags = [i for i, line in enumerate(lines) if line.startswith("  ! ")]
    value = planted["planted_value"]
    assert [lines[i] for i in flags] == [f'  ! unsupported number "{value}" (not in the article)']
    assert lines[flags[0] - 1].startswith("- He produced over 1,000 stamps")
    assert lines[flags[0] + 1].startswith(f"  from sentence {planted['source_sentence']} (")
    assert "warning: 1 of 3 key point(s)" in result.stderr


@pytest.mark.parametrize("hidden", [(), ("jq",), ("jq", "python3")])
def test_stream_prints_paragraphs_then_key_points(
    server_url: str, tmp_path: Path, hidden: tuple[str, ...], memorized_pairs: list[tuple[str, str]]
) -> None:
    path = path_without(tmp_path, *hidden) if hidden else None
    article = "\n\n".join(fr for fr, _ in memorized_pairs[:3])
    result = run_client("--stream", "-", server_url, stdin=article, path=path)
    assert result.returncode == 0, result.stderr
    if "python3" in hidden:  # neither formatter: the raw events, one JSON object a line
        events = [json.loads(line) for line in result.stdout.splitlines() if line]
        assert [e["event"] for e in events] == [*["paragraph"] * 3, "key_points", "done"]
        return
    translation, key_points = result.stdout.split("Key points:\n", 1)
    assert translation.startswith("Translation:\n")
    paragraphs = [p for p in translation.removeprefix("Translation:\n").split("\n\n") if p.strip()]
    assert paragraphs == [en for _, en in memorized_pairs[:3]]  # the tiny model knows these
    assert key_points.startswith("- ")
    assert "Translation:" not in key_points


def test_stream_of_the_sample_article_and_its_errors(server_url: str) -> None:
    result = run_client(str(SAMPLE_ARTICLE), server_url, "--stream")  # the flag after FILE
    assert result.returncode == 0, result.stderr
    translation, _ = result.stdout.split("Key points:", 1)
    paragraphs = translation.removeprefix("Translation:\n").split("\n\n")
    assert len([p for p in paragraphs if p.strip()]) == 10
    bad = run_client("--stream", "-", server_url, stdin="   ")
    assert bad.returncode == 1
    assert "empty_text" in bad.stderr
    assert "Translation:" not in bad.stdout
