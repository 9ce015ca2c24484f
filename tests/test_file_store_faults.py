"""A file store on a filesystem that refuses writes is an outage (503), never a 500.

The filesystem is a real tmpfs mounted for the test and remounted read-only;
permission denied is a directory of mode 0500 used by a process that lost the
capabilities that let root ignore modes (``capsh --drop``). Outside CI, a
machine where either is not allowed skips; with ``CI=true`` it fails.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sessionary import SessionConfig, SessionMiddleware, StoreUnavailable, WSGISessionMiddleware
from sessionary._keys import new_key
from sessionary.stores.base import SessionRecord
from sessionary.stores.file import FileStore

from .apps import asgi_app, wsgi_app
from .store_registry import IN_CI


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, timeout=10)


class Mount:
    def __init__(self, path: Path) -> None:
        self.path = path

    def read_only(self) -> None:
        _mount("-o", "remount,ro", str(self.path))

    def read_write(self) -> None:
        _mount("-o", "remount,rw", str(self.path))


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[Mount]:
    path = tmp_path / "mnt"
    path.mkdir()
    try:
        _mount("-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(path))
    except (OSError, subprocess.CalledProcessError) as exc:
        message = f"cannot mount a tmpfs here: {exc}"
        if IN_CI:
            pytest.fail(f"{message} (CI=true: the read-only filesystem test must run)")
        pytest.skip(message)
    try:
        yield Mount(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, timeout=10)


def record(now: float) -> SessionRecord:
    return SessionRecord("", {"a": '"1"'}, now, now, now + 600, version=1)


def test_read_only_filesystem_is_store_unavailable_for_every_write(mount: Mount) -> None:
    store = FileStore(mount.path / "sessions")
    kept, fresh = new_key(), new_key()
    store.save_sync(kept, record(store.clock()))
    mount.read_only()
    with pytest.raises(StoreUnavailable):
        store.save_sync(fresh, record(store.clock()), must_create=True)
    with pytest.raises(StoreUnavailable):
        store.save_sync(kept, record(store.clock()))
    with pytest.raises(StoreUnavailable):
        store.delete_sync(kept)
    # Reads take no lock: what is stored stays readable.
    loaded = store.load_sync(kept)
    assert loaded is not None
    assert loaded.data == {"a": '"1"'}


def test_read_only_filesystem_before_first_use_is_store_unavailable(mount: Mount) -> None:
    mount.read_only()
    store = FileStore(mount.path / "sessions")
    with pytest.raises(StoreUnavailable):
        store.save_sync(new_key(), record(store.clock()))


@pytest.mark.parametrize("kind", ["asgi", "wsgi"])
async def test_read_only_filesystem_answers_503_and_recovers(mount: Mount, kind: str) -> None:
    config = SessionConfig(store=FileStore(mount.path / "sessions"))
    transport: httpx.AsyncBaseTransport | httpx.BaseTransport
    if kind == "asgi":
        transport = httpx.ASGITransport(SessionMiddleware(asgi_app, config))
        client: httpx.AsyncClient | httpx.Client = httpx.AsyncClient(
            transport=transport, base_url="http://t"
        )
    else:
        transport = httpx.WSGITransport(WSGISessionMiddleware(wsgi_app, config))
        client = httpx.Client(transport=transport, base_url="http://t")

    async def get(path: str, cookie: str | None = None) -> httpx.Response:
        headers = {"cookie": f"sessionid={cookie}"} if cookie else {}
        if isinstance(client, httpx.AsyncClient):
            return await client.get(path, headers=headers)
        return client.get(path, headers=headers)

    first = await get("/set?a=1")
    assert first.status_code == 200
    key = first.cookies["sessionid"]
    mount.read_only()
    assert (await get("/set?b=2", key)).status_code == 503
    assert (await get("/set?c=3")).status_code == 503  # a new visitor: nothing to create
    assert (await get("/get?a=", key)).json() == {"a": "1"}  # reading still works
    mount.read_write()
    assert (await get("/set?b=2", key)).status_code == 200
    assert (await get("/get?a=&b=", key)).json() == {"a": "1", "b": "2"}
    if isinstance(client, httpx.AsyncClient):
        await client.aclose()
    else:
        client.close()


_WITHOUT_DAC = "cap_dac_override,cap_dac_read_search,cap_fowner"


def test_permission_denied_is_store_unavailable(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "sessions")
    kept = new_key()
    store.save_sync(kept, record(store.clock()))
    (tmp_path / "sessions").chmod(0o500)
    (tmp_path / "sessions" / ".locks").chmod(0o500)
    script = textwrap.dedent(
        f"""
        from sessionary._keys import new_key
        from sessionary.exceptions import StoreUnavailable
        from sessionary.stores.base import SessionRecord
        from sessionary.stores.file import FileStore

        store = FileStore({str(tmp_path / "sessions")!r})
        now = store.clock()
        for key in (new_key(), {kept!r}):
            try:
                store.save_sync(key, SessionRecord("", {{}}, now, now, now + 600))
            except StoreUnavailable as exc:
                print("unavailable:", exc)
        print("read:", store.load_sync({kept!r}).data)
        """
    )
    capsh = shutil.which("capsh")
    if capsh is None:
        message = "capsh is not installed: cannot drop root's file capabilities"
        if IN_CI:
            pytest.fail(f"{message} (CI=true: the permission test must run)")
        pytest.skip(message)
    command = f"{sys.executable} -c {shlex.quote(script)}"
    result = subprocess.run(
        [capsh, f"--drop={_WITHOUT_DAC}", "--", "-c", command],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["unavailable", "unavailable", "read"]
    assert all("Permission denied" in line for line in lines[:2])
    assert lines[2] == "read: {'a': '\"1\"'}"
