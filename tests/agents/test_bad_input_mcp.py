"""Bad MCP input: each is one line naming the server (or the setting) and the problem, never a
traceback, never a secret from the settings; what is stored stays as it was; a server that
cannot be used leaves no process or thread behind."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from agents.tools.mcp import MCPTools
from core.settings import MCPServer, SettingsError, load_settings
from tests.agents.mcp_fixtures import HttpServer, gone, stdio

ROOT = Path(__file__).resolve().parents[2]
SECRET = "sekrit-value-93"


def _no_mcp_threads() -> bool:
    return not [t for t in threading.enumerate() if t.name == "stepvox-mcp"]


# -- settings ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value,needle",
    [
        ("{bad", "not valid JSON"),
        ("[1]", "expected servers by name"),
        ('{"a b": {"command": "x"}}', "server name 'a b'"),
        ('{"o": 3}', "server 'o': expected a table"),
        ('{"o": {}}', "server 'o': give `command`"),
        ('{"o": {"command": "x", "url": "http://h/mcp"}}', "not both"),
        ('{"o": {"url": "ftp://h/mcp"}}', "server 'o': url 'ftp://h/mcp': expected an http"),
        ('{"o": {"url": "http://h:99999/mcp"}}', "server 'o': url 'http://h:99999/mcp': bad port"),
        ('{"o": {"comand": "x"}}', "server 'o': unknown key 'comand'"),
        ('{"o": {"command": "x", "args": "-m x"}}', "server 'o': args"),
        (json.dumps({"o": {"command": "x", "headers": {"Authorization": SECRET}}}), "headers are for"),
        (json.dumps({"o": {"url": "http://h/mcp", "env": {"K": SECRET}}}), "args, env and cwd are for"),
        ('{"o": {"command": "x", "env": {"K": 1}}}', "server 'o': env.K"),
        ('{"o": {"command": "x", "approval": "yes"}}', "server 'o': approval: expected true, false"),
        ('{"o": {"command": "x", "approval": [""]}}', "tool names must not be empty"),
        ('{"o": {"command": "x", "startup_timeout_s": 0}}', "server 'o': startup_timeout_s"),
        ('{"o": {"command": "  "}}', "server 'o': command: must not be empty"),
        ('{"o": {"command": "x", "examples": {"t": [""]}}}', "server 'o': examples"),
    ],
)
def test_bad_mcp_servers_in_the_environment(monkeypatch, value, needle):
    monkeypatch.setenv("STEPVOX_MCP_SERVERS", value)
    with pytest.raises(SettingsError) as e:
        load_settings()
    msg = str(e.value)
    assert msg.startswith("setting STEPVOX_MCP_SERVERS") and needle in msg, msg
    assert "\n" not in msg and SECRET not in msg


@pytest.mark.parametrize(
    "toml,needle",
    [
        ('[mcp_servers.o]\nurl = "nope"\n', "server 'o': url 'nope'"),
        (f'[mcp_servers.o]\ncommand = "x"\nheaders = {{Authorization = "{SECRET}"}}\n', "headers are for"),
    ],
)
def test_bad_mcp_servers_in_the_config_file(monkeypatch, tmp_path, toml, needle):
    f = tmp_path / "stepvox.toml"
    f.write_text(toml)
    monkeypatch.setenv("STEPVOX_CONFIG", str(f))
    with pytest.raises(SettingsError) as e:
        load_settings()
    msg = str(e.value)
    assert f"mcp_servers in {f}" in msg and needle in msg and "\n" not in msg and SECRET not in msg


def _digest(home: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(home.rglob("*")):
        h.update(str(p.relative_to(home)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.mark.parametrize("command", [["ask", "where is my order B-7", "-o", "OUT"], ["doctor"]])
def test_cli_refuses_bad_mcp_settings_with_one_line(tmp_path, command):
    home = tmp_path / "home"
    (home / "corpora").mkdir(parents=True)
    (home / "corpora" / "keep.txt").write_text("stored before")
    before = _digest(home)
    bad = json.dumps({"orders": {"command": "x", "headers": {"X-Token": SECRET}}})
    env = {**os.environ, "PYTHONPATH": str(ROOT), "STEPVOX_HOME": str(home), "STEPVOX_MCP_SERVERS": bad}
    argv = [str(tmp_path / "reply.wav") if a == "OUT" else a for a in command]
    out = subprocess.run([sys.executable, "-m", "assistant.cli", *argv], capture_output=True, text=True,
                         env=env, timeout=120)  # fmt: skip
    assert out.returncode == 2
    err = out.stderr.strip()
    assert err.startswith("error: setting STEPVOX_MCP_SERVERS: server 'orders': headers are for"), err
    assert "\n" not in err and SECRET not in err and "Traceback" not in out.stderr
    assert _digest(home) == before and not (tmp_path / "reply.wav").exists()


# -- servers that cannot be used ----------------------------------------------------------------
@pytest.fixture(scope="module")
def http_server():
    srv = HttpServer()
    yield srv
    srv.stop()


def _marker_pids(marker: str) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and marker.encode() in (p / "cmdline").read_bytes():
                out.append(int(p.name))
        except OSError:
            pass
    return out


def _server(kind: str, tmp_path: Path, http: HttpServer) -> MCPServer:
    if kind == "missing command":
        return MCPServer(command="no-such-mcp-server-xyz")
    if kind == "not executable":
        f = tmp_path / "server.sh"
        f.write_text("#!/bin/sh\n")
        f.chmod(0o644)
        return MCPServer(command=str(f))
    if kind == "not an MCP server":
        return MCPServer(command=sys.executable, args=["-c", "print('hello')"])
    if kind == "crashing server":
        return MCPServer(command=sys.executable, args=["-c", "import sys; sys.exit('fatal: no config at /etc/x')"])
    if kind == "silent server":
        return MCPServer(command=sys.executable, args=["-c", "import time; time.sleep(60)", "mcp-silent-marker"],
                         startup_timeout_s=1.5)  # fmt: skip
    if kind == "connection refused":
        return MCPServer(url="http://127.0.0.1:9/mcp")
    if kind == "wrong token":
        return MCPServer(url=http.url, headers={"X-Token": SECRET})
    if kind == "approval typo":
        return stdio(approval=["cancel_ordr"])
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind,needle",
    [
        ("missing command", "command not found: no-such-mcp-server-xyz"),
        ("not executable", "command not executable"),
        ("not an MCP server", "closed the connection"),
        ("crashing server", "closed the connection (is it an MCP server, and still running?); it said: fatal: no config"),
        ("silent server", "no answer in time"),
        ("connection refused", "cannot connect"),
        ("wrong token", "HTTP 401"),
        ("approval typo", "approval names tools the server does not offer: 'cancel_ordr'"),
    ],
)
def test_a_server_that_cannot_be_used_is_left_out_with_one_line(tmp_path, http_server, caplog, kind, needle):
    with caplog.at_level(logging.WARNING, logger="stepvox.mcp"), \
            MCPTools({"bad": _server(kind, tmp_path, http_server)}, timeout=3.0) as m:  # fmt: skip
        assert m.tools == [] and needle in m.errors["bad"], m.errors
        assert "\n" not in m.errors["bad"] and SECRET not in m.errors["bad"]
    warned = [r.getMessage() for r in caplog.records if r.name == "stepvox.mcp"]
    assert len(warned) == 1 and warned[0].startswith("MCP server 'bad': ") and "left out" in warned[0]
    assert _no_mcp_threads()
    assert all(gone(p) for p in _marker_pids("mcp-silent-marker"))


def test_the_other_servers_tools_stay_when_one_fails(tmp_path):
    with MCPTools({"down": MCPServer(url="http://127.0.0.1:9/mcp"), "orders": stdio()}, timeout=3.0) as m:
        assert set(m.errors) == {"down"} and m.counts == {"orders": 5}
        add = next(t for t in m.tools if t.name == "add")
        assert add.invoke({"a": 1, "b": 2}) == "3.0"


# -- bad calls ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def orders():
    with MCPTools({"orders": stdio()}, timeout=5.0) as m:
        yield {t.name: t for t in m.tools}


@pytest.mark.parametrize(
    "tool,args,needle",
    [
        ("lookup_order", {"order_id": "Z-0"}, "no order 'Z-0'"),
        ("add", {"a": 1}, "Field required"),
        ("add", {"a": "one", "b": 2}, "valid number"),
        ("explode", {"reason": "bad input"}, "exploded: bad input second line"),
    ],
)
def test_a_failing_call_is_a_one_line_error_result(orders, tool, args, needle):
    out = orders[tool].invoke({"type": "tool_call", "id": "c1", "name": tool, "args": args})
    assert out.status == "error" and needle in out.content, out.content
    assert "\n" not in out.content and "Traceback" not in out.content and len(out.content) <= 300
