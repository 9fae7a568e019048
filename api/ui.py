"""The web page at `/`: search and jobs, a static page over the public API (api/static/ui)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory

UI_DIR = Path(__file__).parent / "static" / "ui"
bp = Blueprint("ui", __name__)


@bp.get("/")
def index() -> Response:
    return send_from_directory(UI_DIR, "index.html", max_age=0)
