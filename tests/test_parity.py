"""What peers offer, kept: WebSocket sessions, test-cookie helpers, reload,
save mid-request without a second save, metadata."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from sessionary import Session, SessionConfig, SessionMiddleware
from sessionary.stores.database import DatabaseStore


def make_app(tmp_path: Path) -> tuple[Starlette, DatabaseStore]:
    store = DatabaseStore(f"sqlite:///{tmp_path / 's.db'}")
    store.migrate_sync()

    async def set_name(request: Request) -> JSONResponse:
        request.session["name"] = request.query_params["name"]
        return JSONResponse({})

    async def show(request: Request) -> JSONResponse:
        session: Session = request.session  # type: ignore[assignment]
        return JSONResponse(
            {
                "name": session.get("name"),
                "greeted": session.get("greeted"),
                "version": session.record.version if session.record else None,
            }
        )

    async def test_cookie(request: Request) -> JSONResponse:
        session: Session = request.session  # type: ignore[assignment]
        if request.query_params.get("step") == "set":
            session.set_test_cookie()
            return JSONResponse({})
        worked = session.test_cookie_worked()
        session.delete_test_cookie()
        return JSONResponse({"worked": worked})

    async def save_early(request: Request) -> JSONResponse:
        session: Session = request.session  # type: ignore[assignment]
        session["early"] = 1
        await session.save()  # commits now; the response must not save again
        return JSONResponse({"version": session.record.version if session.record else None})

    async def reload(request: Request) -> JSONResponse:
        session: Session = request.session  # type: ignore[assignment]
        session["name"] = "unsaved"
        await session.reload()
        return JSONResponse({"name": session.get("name")})

    async def metadata(request: Request) -> JSONResponse:
        session: Session = request.session  # type: ignore[assignment]
        times = (session.created_at, session.last_seen, session.expires_at)
        return JSONResponse(
            {"times": [t.isoformat() if t else None for t in times], "aware": all(
                t is not None and t.tzinfo is dt.UTC for t in times
            )}
        )  # fmt: skip

    async def chat(websocket: WebSocket) -> None:
        await websocket.accept()
        session: Session = websocket.session  # type: ignore[assignment]
        await websocket.send_json({"name": session.get("name")})
        session["greeted"] = True
        await session.save()
        await websocket.send_json({"saved": True})
        await websocket.close()

    app = Starlette(
        routes=[
            Route("/set", set_name),
            Route("/show", show),
            Route("/test-cookie", test_cookie),
            Route("/save-early", save_early),
            Route("/reload", reload),
            Route("/metadata", metadata),
            WebSocketRoute("/ws", chat),
        ]
    )
    return SessionMiddleware(app, SessionConfig(store=store)), store  # type: ignore[return-value]


def test_websocket_reads_and_saves_the_http_session(tmp_path: Path) -> None:
    app, store = make_app(tmp_path)
    with TestClient(app) as client:
        client.get("/set?name=ada")
        with client.websocket_connect("/ws") as ws:
            assert ws.receive_json() == {"name": "ada"}
            assert ws.receive_json() == {"saved": True}
        assert client.get("/show").json()["greeted"] is True
    store.close()


def test_test_cookie_helpers(tmp_path: Path) -> None:
    app, store = make_app(tmp_path)
    with TestClient(app) as client:
        client.get("/test-cookie?step=set")
        assert client.get("/test-cookie").json() == {"worked": True}
        assert client.get("/test-cookie").json() == {"worked": False}
    store.close()


def test_save_mid_request_is_not_repeated_by_the_response(tmp_path: Path) -> None:
    app, store = make_app(tmp_path)
    with TestClient(app) as client:
        client.get("/set?name=ada")
        before = client.get("/show").json()["version"]
        response = client.get("/save-early")
        assert "set-cookie" in response.headers  # the cookie still goes out
        assert response.json()["version"] == before + 1
        assert client.get("/show").json()["version"] == before + 1  # saved once
    store.close()


def test_reload_drops_unsaved_changes(tmp_path: Path) -> None:
    app, store = make_app(tmp_path)
    with TestClient(app) as client:
        client.get("/set?name=ada")
        assert client.get("/reload").json() == {"name": "ada"}
        assert client.get("/show").json()["name"] == "ada"
    store.close()


def test_metadata_is_aware_utc_and_none_before_first_save(tmp_path: Path) -> None:
    app, store = make_app(tmp_path)
    with TestClient(app) as client:
        assert client.get("/metadata").json() == {"times": [None, None, None], "aware": False}
        client.get("/set?name=ada")
        body = client.get("/metadata").json()
        assert body["aware"] is True
        created, seen, expires = (dt.datetime.fromisoformat(t) for t in body["times"])
        assert created <= seen < expires
    store.close()
