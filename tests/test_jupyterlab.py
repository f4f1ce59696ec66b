"""JupyterLab, the reading tool of the design card: `jupyter lab` serves the repository's notebooks and runs their cells.

One headless server on 127.0.0.1 (a free port, a generated token, no browser, root_dir = the repository), then through
the Jupyter Server REST API: read nbs/train.ipynb, start a python3 kernel, run the notebook's `parameters` cell over
the kernel's websocket channel, check what it prints, delete the kernel. Localhost traffic only; about 10-20 s.
"""
import asyncio, json, os, secrets, signal, socket, subprocess, sys, time, uuid
import urllib.error, urllib.request
from pathlib import Path
import pytest

pytest.importorskip("jupyterlab", reason="jupyterlab is not installed (pip install -e '.[dev]' brings it)")
pytest.importorskip("jupyter_server", reason="jupyter_server is not installed (pip install -e '.[dev]' brings it)")
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 60    # s: the server's start-up on a busy 2-core machine
CALL_TIMEOUT = 30     # s: one REST call, or one cell's execution including the kernel's start


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    "A running `jupyter lab` and a small client of its REST API."
    def __init__(self, port, token, proc, log):
        self.port, self.token, self.proc, self.log = port, token, proc, log
        self.url = f"http://127.0.0.1:{port}"

    def log_tail(self, n=3000):
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-n:]

    def api(self, method, path, body=None, timeout=CALL_TIMEOUT):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("jupyterlab")
    token = secrets.token_hex(24)
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), PYTHONUNBUFFERED="1")
    log = open(tmp / "server.log", "w+")
    proc = lab_ = None
    try:
        for attempt in range(2):          # a second port if another process took the first between probe and bind
            port = _free_port()
            cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
                   "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}",
                   # nothing fetched from the internet: no news feed, no update check, no PyPI extension manager
                   "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                   "--LabApp.extension_manager=readonly"]
            if getattr(os, "geteuid", lambda: 1)() == 0: cmd.append("--allow-root")   # e.g. in a container
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            lab_ = Lab(port, token, proc, log)
            deadline = time.monotonic() + START_TIMEOUT
            while proc.poll() is None and time.monotonic() < deadline:
                try:
                    if lab_.api("GET", "/api/status", timeout=5)[0] == 200: break
                except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                    pass
                time.sleep(0.3)
            else:
                if proc.poll() is not None and attempt == 0: continue   # exited (e.g. port taken): one more try
                pytest.fail(f"jupyter lab did not answer within {START_TIMEOUT} s (exit code {proc.poll()}):\n"
                            + lab_.log_tail())
            break
        yield lab_
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)   # jupyter_server shuts its kernels down on SIGTERM
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)   # its own session: the server and any kernel it left
                proc.wait(timeout=10)
        log.close()


def _parameters_cell(nb):
    cells = [c for c in nb["cells"] if c["cell_type"] == "code" and "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"expected one 'parameters'-tagged code cell, found {len(cells)}"
    src = cells[0]["source"]
    return src if isinstance(src, str) else "".join(src)


async def _execute(lab, kernel_id, code, timeout=CALL_TIMEOUT):
    "Run `code` over the kernel's websocket channel; return (stdout text, execute_reply content)."
    req = HTTPRequest(f"ws://127.0.0.1:{lab.port}/api/kernels/{kernel_id}/channels?session_id={uuid.uuid4().hex}",
                      headers={"Authorization": f"token {lab.token}"}, connect_timeout=10, request_timeout=10)
    ws = await asyncio.wait_for(websocket_connect(req), timeout)
    try:
        msg_id = uuid.uuid4().hex
        await ws.write_message(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test", "session": uuid.uuid4().hex,
                       "date": "", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "buffers": [], "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        stdout, reply, idle = [], None, False
        deadline = asyncio.get_running_loop().time() + timeout
        while reply is None or not idle:
            left = deadline - asyncio.get_running_loop().time()
            raw = await asyncio.wait_for(ws.read_message(), max(left, 0.01))
            assert raw is not None, "the kernel's websocket closed before the cell finished"
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id: continue
            kind, content = msg["header"]["msg_type"], msg["content"]
            if kind == "stream" and content["name"] == "stdout": stdout.append(content["text"])
            elif kind == "error": stdout.append("\n".join(content["traceback"]))
            elif kind == "execute_reply": reply = content
            elif kind == "status" and content["execution_state"] == "idle": idle = True
        return "".join(stdout), reply
    finally:
        ws.close()


def test_jupyterlab_serves_and_runs_train_notebook(lab):
    # the lab UI itself is served (the page a browser opens)
    status, _ = lab.api("GET", "/api/status")
    assert status == 200
    with urllib.request.urlopen(f"{lab.url}/lab/tree/nbs/train.ipynb?token={lab.token}", timeout=CALL_TIMEOUT) as r:
        assert r.status == 200 and b"JupyterLab" in r.read()

    # the notebook, through the contents API
    status, model = lab.api("GET", "/api/contents/nbs/train.ipynb?content=1&type=notebook")
    assert status == 200 and model["type"] == "notebook" and model["path"] == "nbs/train.ipynb"
    params = _parameters_cell(model["content"])
    expected = {}
    exec(params, {}, expected)                       # the values the cell sets, computed here
    assert "dataset" in expected and "method" in expected

    # a python3 kernel runs the parameters cell, and reports adavipro's version and the values set
    status, kernel = lab.api("POST", "/api/kernels", {"name": "python3", "path": "nbs"})
    assert status == 201 and kernel["name"] == "python3"
    kid = kernel["id"]
    try:
        code = (params + "\nimport json as _json, adavipro as _adavipro\n"
                "print('version=' + _adavipro.__version__)\n"
                f"print('params=' + _json.dumps({{k: globals()[k] for k in {sorted(expected)!r}}}))\n")
        out, reply = asyncio.run(_execute(lab, kid, code))
        assert reply["status"] == "ok", out
        import adavipro
        lines = dict(l.split("=", 1) for l in out.splitlines() if "=" in l and l.split("=", 1)[0] in ("version", "params"))
        assert lines["version"] == adavipro.__version__
        assert json.loads(lines["params"]) == json.loads(json.dumps(expected))
    finally:
        status, _ = lab.api("DELETE", f"/api/kernels/{kid}")
    assert status == 204
    _, kernels = lab.api("GET", "/api/kernels")
    assert kid not in {k["id"] for k in kernels}
