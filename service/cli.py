"""Command line: `serve` runs the API; `summarize` and `translate` run the pipeline on files."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TextIO

from service.article import ArticleInput
from service.config import Settings
from service.device import DeviceUnavailableError
from service.engines.loader import ModelLoadError
from service.errors import DepecheError
from service.logs import configure_logging
from service.process import cap_malloc_arenas
from service.results import PointGrounding, SummarizeResult, TranslateResult, TranslationCheck
from service.text.unicode import check_text, decode_utf8

log = logging.getLogger(__name__)

EXIT_LOAD_FAILED = 2
EXIT_INPUT_FAILED = 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m service",
        description="Dépêche: French news article in, English translation and key points out.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API on uvicorn")
    serve.add_argument("--host", help="address to bind (default: DEPECHE_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: DEPECHE_PORT or 8000)")

    worker = commands.add_parser("worker", help="run queued jobs (POST /jobs), no HTTP API")
    worker.add_argument("--workers", type=int, help="job threads (default: DEPECHE_JOBS_WORKERS)")

    for name, text in (
        ("summarize", "translate French articles and print key points, then the translation"),
        ("translate", "translate French articles into English"),
    ):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument(
            "files", nargs="+", metavar="FILE", help="article files; - reads stdin"
        )
        command.add_argument("--json", action="store_true", help="print JSON instead of text")
        command.add_argument("--title", help="headline of the article (one file only)")
        command.add_argument(
            "--html", action="store_true", help="the files are HTML (blocks kept, scripts dropped)"
        )
        command.add_argument(
            "--source-lang",
            choices=("fr", "en"),
            help="language of the articles (default: detected; en skips translation)",
        )
        if name == "summarize":
            command.add_argument(
                "--max-points",
                type=int,
                choices=range(3, 7),
                metavar="{3..6}",
                help="key points at most (default: DEPECHE_DEFAULT_MAX_POINTS, 5)",
            )
            command.add_argument(
                "--unsupported",
                choices=("flag", "drop", "replace"),
                default="flag",
                help="a key point whose facts the article does not state: flag it (default), "
                "drop it, or replace it with its best source sentence",
            )
    return parser


def _read(path: str) -> str:
    """The file (or stdin) as text, under the API's Unicode rule: UTF-8, no lone surrogate."""
    if path == "-":
        # Read bytes where there are some: a text stdin in the C locale would turn bad bytes
        # into lone surrogates (surrogateescape) instead of failing.
        buffer = getattr(sys.stdin, "buffer", None)
        if buffer is None:
            text = sys.stdin.read()
            check_text(text, "stdin")
            return text
        return decode_utf8(buffer.read(), "stdin")
    return decode_utf8(Path(path).read_bytes(), "The file")


def _failure(exc: Exception) -> tuple[str, str]:
    """The error envelope's code and message for a file that failed, whatever the exception."""
    if isinstance(exc, DepecheError):
        return exc.code, exc.message
    if isinstance(exc, OSError):
        return "unreadable_file", exc.strerror or str(exc)
    # A bug, not the file's fault: one line here; DEPECHE_LOG_LEVEL=debug logs the traceback.
    log.debug("unexpected failure", exc_info=exc)
    detail = " ".join(str(exc).split())[:300]
    return "internal_error", f"The article failed unexpectedly ({type(exc).__name__}: {detail})."


def _point_lines(entry: PointGrounding) -> list[str]:
    """A key point's flags in plain words, one line each, indented under the point."""
    lines = []
    if entry.replaced:
        source = entry.sources[0].sentence if entry.sources else "?"
        lines.append(f'  ! replaced by sentence {source}; the point was: "{entry.original}"')
    lines.extend(f"  ! {check.note}" for check in entry.checks if not check.supported)
    if entry.sources:
        where = ", ".join(f"{s.sentence} ({round(s.score * 100)}%)" for s in entry.sources)
        lines.append(f"  from sentence {where}")
    else:
        lines.append("  (no sentence of the article shares its words)")
    return lines


def _check_line(check: TranslationCheck) -> str:
    """A translation check in plain words."""
    where = (
        "in the French but not in the English"
        if check.problem == "missing"
        else "in the English but not in the French"
    )
    return f'sentence {check.sentence}: number "{check.value}" is {where}'


def _print_text(result: SummarizeResult | TranslateResult, out: TextIO) -> None:
    """Key points with their flags, translation checks, then the translation; warnings (and,
    for translate, the translation checks) go to stderr so stdout stays the English."""
    if isinstance(result, SummarizeResult):
        out.write("Key points:\n")
        grounding = result.grounding if len(result.grounding) == len(result.key_points) else []
        for index, point in enumerate(result.key_points):
            out.write(f"- {point}\n")
            if grounding:
                out.writelines(line + "\n" for line in _point_lines(grounding[index]))
        if result.translation_checks:
            out.write("\nTranslation checks:\n")
            out.writelines(f"- {_check_line(check)}\n" for check in result.translation_checks)
        out.write("\nTranslation:\n")
    else:
        for check in result.translation_checks:
            print(f"check: {_check_line(check)}", file=sys.stderr)
    out.write(result.translation.text + "\n")
    for warning in result.meta.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def serve(settings: Settings) -> int:
    """Run uvicorn; exit non-zero with one clear message when the models cannot be loaded."""
    import uvicorn

    from service.api.app import create_app
    from service.api.deps import jobs_of, state_of

    server: uvicorn.Server | None = None

    def stop(_message: str) -> None:
        if server is not None:
            server.should_exit = True

    app = create_app(settings, on_load_failure=stop)
    jobs = jobs_of(app)

    class GracefulServer(uvicorn.Server):
        """uvicorn, plus: at the first SIGTERM or SIGINT the job workers stop taking jobs and
        start their drain at once, alongside the HTTP drain and within the same grace (the
        lifespan's shutdown alone would run only after the requests in flight are done)."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            jobs.stop_in_background()
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,  # our handler (service.logs) formats uvicorn's records too
        access_log=False,  # the API's middleware writes the access log, one line per request
        # On SIGTERM uvicorn closes its sockets at once, then waits this long for the requests
        # in flight before it cancels them.
        timeout_graceful_shutdown=settings.shutdown_grace_s,
    )
    server = GracefulServer(config)
    server.run()
    return EXIT_LOAD_FAILED if state_of(app).load_error else 0


def run_files(command: str, args: argparse.Namespace, settings: Settings) -> int:
    """Load the models once and run every file through the pipeline, with a progress bar."""
    from tqdm import tqdm

    from service.articles import ResultCache, SummaryRequest, summarize_article, translate_article
    from service.pipeline import Pipeline

    if args.title and len(args.files) > 1:
        print("--title applies to a single article; give one FILE", file=sys.stderr)
        return EXIT_INPUT_FAILED
    try:
        pipeline = Pipeline.load(settings)
    except (ModelLoadError, DeviceUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_LOAD_FAILED

    results = ResultCache(0)  # one run, each file once: nothing to reuse
    status = 0
    several = len(args.files) > 1
    bar = tqdm(args.files, desc=command, unit="article", disable=not several, file=sys.stderr)
    for path in bar:
        try:
            content = _read(path)
            article = ArticleInput(
                text=None if args.html else content,
                html=content if args.html else None,
                title=args.title,
                source_lang=args.source_lang,
            )
            result: SummarizeResult | TranslateResult
            if command == "summarize":
                request = SummaryRequest(article, args.max_points, args.unsupported)
                result, _ = summarize_article(pipeline, results, request)
            else:
                result, _ = translate_article(pipeline, results, article)
        except Exception as exc:  # any failure fails this file only; the others still run
            code, message = _failure(exc)
            bar.write(f"error: {path}: {code}: {message}", file=sys.stderr)
            status = EXIT_INPUT_FAILED
            continue
        if args.json:
            document = {"file": path, **result.model_dump()} if several else result.model_dump()
            print(json.dumps(document, ensure_ascii=False, indent=None if several else 2))
        else:
            if several:
                print(f"== {path} ==")
            _print_text(result, sys.stdout)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    cap_malloc_arenas()  # before any worker thread allocates
    args = _parser().parse_args(argv)
    settings = Settings()
    if args.command == "serve":
        updates = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
        settings = settings.model_copy(update=updates)
    # Quiet on files, unless asked for debug (which shows the traceback of a failed file).
    quiet = "debug" if settings.log_level == "debug" else "warning"
    configure_logging(
        settings.log_level if args.command in ("serve", "worker") else quiet,
        settings.log_format,
    )
    if settings.offline:
        # Belt and braces: libraries that read these never try the network either.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if args.command == "serve":
        return serve(settings)
    if args.command == "worker":
        from service.jobs.worker import run_worker

        return run_worker(settings, args.workers)
    return run_files(args.command, args, settings)
