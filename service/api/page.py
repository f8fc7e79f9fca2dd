"""The editor's page: GET / and its static files (HTML, CSS, JS modules), all from the service."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

from service.api.deps import ApiKeysDep

STATIC = Path(__file__).resolve().parent / "static"

_MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}

# The page loads nothing from elsewhere, and the browser is told so: a script injected through a
# pasted article (the page never renders it as HTML, but defence in depth) could not call out.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidate on every load, so an upgraded service never runs with yesterday's script.
    "Cache-Control": "no-cache",
}

_KEYS_MARKER = 'name="depeche-api-keys" content="off"'

router = APIRouter(include_in_schema=False)


def _static_files() -> dict[str, Path]:
    """The servable files: the folder's own files with a known type (no subfolders, no dotfiles),
    so no request path can reach anything else."""
    return {
        path.name: path
        for path in STATIC.iterdir()
        if path.is_file() and path.suffix in _MEDIA_TYPES and not path.name.startswith(".")
    }


@router.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse)
def editor_page(keys: ApiKeysDep) -> HTMLResponse:
    """The editor's page. It tells its script whether API keys are on (the page itself needs
    none), so the script asks for a key before the first call."""
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    if keys.enabled:
        html = html.replace(_KEYS_MARKER, 'name="depeche-api-keys" content="on"')
    return HTMLResponse(html, headers=_HEADERS)


@router.api_route("/static/{name}", methods=["GET", "HEAD"])
def static_file(name: str) -> FileResponse:
    """A file of the page (script module, style sheet, icon)."""
    path = _static_files().get(name)
    if path is None:
        raise HTTPException(404, f"No file {name!r} in the editor page's files.")
    return FileResponse(path, media_type=_MEDIA_TYPES[path.suffix], headers=_HEADERS)
