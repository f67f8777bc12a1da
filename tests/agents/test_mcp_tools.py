"""MCP tools against a real MCP server process (tests/agents/mcp_server.py, FastMCP) started by
the test, over stdio and over streamable HTTP: they run synchronously (as the graph calls them)
and asynchronously, return text, fail in one line, carry approval marks, reconnect to a server
that went away, leave no process or thread behind, and answer a real stepvox turn."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from langchain_core.messages import ToolMessage

from agents import Assistant
from agents.tools import tool_specs
from agents.tools.mcp import MCPServerError, MCPTools
from core.settings import MCPServer, Settings
from model.embedded.policy import EmbeddedPolicy
from model.embedded.router import schema_arguments
from tests.agents.mcp_fixtures import (
    TOKEN,
    HttpServer,
    calls,
    gone,
    server_pids,
    stdio,
    stdio_json,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _call(tool, **args):
    return tool.invoke({"type": "tool_call", "id": "c1", "name": tool.name, "args": args})


def _mcp_threads(within_s: float = 2.0) -> list[threading.Thread]:
    """The MCP loop's thread and the stdio servers' stderr readers still running."""
    end = time.monotonic() + within_s
    while True:
        left = [t for t in threading.enumerate() if t.name == "stepvox-mcp" or t.name.startswith("mcp-stderr-")]
        if not left or time.monotonic() > end:
            return left
        time.sleep(0.05)


@pytest.fixture(scope="module")
def http_server(tmp_path_factory):
    srv = HttpServer(tmp_path_factory.mktemp("mcp-http") / "calls.jsonl")
    yield srv
    srv.stop()


def test_stdio_tools_run_as_graph_tools_and_leave_nothing_behind(tmp_path):
    log = tmp_path / "calls.jsonl"
    m = MCPTools({"orders": stdio(log)}, timeout=2.0)
    try:
        tools = {t.name: t for t in m.tools}
        assert m.errors == {} and m.counts == {"orders": 5}
        assert set(tools) == {"lookup_order", "add", "cancel_order", "explode", "slow"}
        # sync, as ToolNode calls it: the result is the server's JSON, compact
        out = _call(tools["lookup_order"], order_id="A-1234")
        assert isinstance(out, ToolMessage) and out.status == "success"
        assert json.loads(out.content)["status"] == "shipped"
        assert tools["add"].invoke({"a": 2, "b": 3.5}) == "5.5"
        # async too (astream_turn)
        assert asyncio.run(tools["add"].ainvoke({"a": 1, "b": 1})) == "2.0"
        # the tool's failure: an error result, one line
        err = _call(tools["explode"], reason="boom")
        assert err.status == "error" and "exploded: boom" in err.content and "\n" not in err.content
        # past tool_timeout_s: an error result in about that time, and the server still answers
        t0 = time.perf_counter()
        slow = _call(tools["slow"], seconds=4)
        assert slow.status == "error" and "did not answer within 2 s" in slow.content
        assert time.perf_counter() - t0 < 3.5
        assert tools["add"].invoke({"a": 2, "b": 2}) == "4.0"
        pids = {c["pid"] for c in calls(log)}
        assert len(pids) == 1  # one session held for all calls
    finally:
        m.close()
    assert all(gone(p) for p in pids), "the stdio server outlived close()"
    assert not _mcp_threads()
    after = _call(tools["add"], a=1, b=1)
    assert after.status == "error" and "closed" in after.content


def test_streamable_http_tools_with_headers(http_server, monkeypatch):
    monkeypatch.setenv("MCP_TEST_TOKEN", TOKEN)  # `${VAR}` in a header comes from the environment
    cfg = MCPServer(url=http_server.url, headers={"X-Token": "${MCP_TEST_TOKEN}"})
    with MCPTools({"web": cfg}, timeout=5.0) as m:
        assert m.errors == {}
        tools = {t.name: t for t in m.tools}
        assert json.loads(tools["lookup_order"].invoke({"order_id": "b-7"}))["status"] == "waiting for payment"
        assert asyncio.run(tools["add"].ainvoke({"a": 20, "b": 1})) == "21.0"
        err = _call(tools["lookup_order"], order_id="nope")
        assert err.status == "error" and "no order 'nope'" in err.content
    assert not _mcp_threads()


def test_approval_marks_reach_the_tool_specs(http_server, tmp_path):
    servers = {
        "orders": stdio(tmp_path / "calls.jsonl", approval=["cancel_order"]),
        "web": http_server.config(approval=True),
    }
    # the same tool names on two servers: the second server's are prefixed with its name
    with MCPTools(servers, timeout=5.0, reserved=["calculator"]) as m:
        marked = {t.name for t in m.tools if (t.metadata or {}).get("approval")}
        web = {"web_lookup_order", "web_add", "web_cancel_order", "web_explode", "web_slow"}
        assert marked == {"cancel_order", *web}
        specs = {s.name: s for s in tool_specs(m.tools)}
        assert specs["cancel_order"].approval is True and specs["lookup_order"].approval is False
        assert specs["web_add"].approval is True
        assert specs["lookup_order"].description.startswith("Look up the delivery status")
        assert specs["lookup_order"].parameters["required"] == ["order_id"]


def test_a_server_that_went_away_is_reconnected_on_the_next_call(tmp_path):
    log = tmp_path / "calls.jsonl"
    with MCPTools({"orders": stdio(log)}, timeout=5.0) as m:
        add = next(t for t in m.tools if t.name == "add")
        assert add.invoke({"a": 1, "b": 2}) == "3.0"
        first = calls(log)[-1]["pid"]
        os.kill(first, 9)
        assert gone(first)
        broken = _call(add, a=1, b=2)
        assert broken.status == "error" and "orders" in broken.content and "\n" not in broken.content
        assert add.invoke({"a": 2, "b": 2}) == "4.0"
        second = calls(log)[-1]["pid"]
        assert second != first
    assert gone(second)


def test_interpreter_exit_without_close_leaves_no_server(tmp_path):
    log = tmp_path / "calls.jsonl"
    script = textwrap.dedent("""
        import json, os
        from agents.tools.mcp import MCPTools
        from core.settings import MCPServer, Settings
        m = MCPTools({"orders": MCPServer.model_validate(json.loads(os.environ["CFG"]))})
        print(next(t for t in m.tools if t.name == "add").invoke({"a": 1, "b": 1}))
    """)  # ... and exits without m.close()
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": ROOT, "CFG": json.dumps(stdio_json(log))})  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2.0"
    assert time.perf_counter() - t0 < 30
    assert gone(calls(log)[-1]["pid"])


def test_schema_fills_an_identifier_and_several_numbers():
    s, n = {"type": "string"}, {"type": "number"}
    one = {"properties": {"order_id": s}, "required": ["order_id"]}
    assert schema_arguments(one, "check the status of my order A-1234") == {"order_id": "A-1234"}
    assert schema_arguments(one, "where is order #77?") == {"order_id": "77"}
    two = {"properties": {"a": n, "b": n}, "required": ["a", "b"]}
    assert schema_arguments(two, "add 2 and 3.5") == {"a": 2.0, "b": 3.5}
    assert schema_arguments(two, "add 2") is None


def test_a_stepvox_turn_calls_the_mcp_tool_and_says_its_result(tmp_path):
    """`Assistant.from_settings` with a stdio server: an MCP tool with only a name, a description
    and a schema is reached by the embedded router by its description, `order_id` is filled
    from the schema, and the reply says the result; the settings' example phrasings reach it
    too. The server's process is gone after `close()`."""
    log = tmp_path / "calls.jsonl"
    examples = {"lookup_order": ["where is my order", "has my order shipped yet"]}
    settings = Settings(home=tmp_path / "home", tool_timeout_s=5.0,
                        mcp_servers={"orders": stdio(log, examples=examples, approval=["cancel_order"])})  # fmt: skip
    a = Assistant.from_settings(settings)
    try:
        assert {"lookup_order", "cancel_order", "get_current_time"} <= {t.name for t in a.tools}
        r = a.respond(text="Check the delivery status of my order A-1234.", thread_id="mcp")
        assert [(c.name, c.arguments) for c in r.tool_calls] == [("lookup_order", {"order_id": "A-1234"})]
        assert json.loads(r.tool_calls[0].result)["carrier"] == "Parcelway"
        assert "shipped" in r.reply_text
        r = a.respond(text="Where is my order B-7?", thread_id="mcp")
        assert [(c.name, c.arguments) for c in r.tool_calls] == [("lookup_order", {"order_id": "B-7"})]
        assert "waiting for payment" in r.reply_text
    finally:
        a.close()
    assert [c["tool"] for c in calls(log)] == ["lookup_order", "lookup_order"]
    assert gone(calls(log)[0]["pid"], within_s=1)
    assert not _mcp_threads()


def test_a_turn_over_streamable_http(http_server, tmp_path):
    a = Assistant(EmbeddedPolicy(), tmp_path / "home", mcp_servers={"web": http_server.config()})
    try:
        r = a.respond(text="What's the delivery status of order B-7?", thread_id="web")
        assert [(c.name, c.arguments) for c in r.tool_calls] == [("lookup_order", {"order_id": "B-7"})]
        assert "waiting for payment" in r.reply_text
    finally:
        a.close()


def test_a_required_server_that_is_down_stops_the_assistant(tmp_path):
    down = MCPServer(url="http://127.0.0.1:9/mcp", required=True)
    with pytest.raises(MCPServerError) as e:
        Assistant(EmbeddedPolicy(), tmp_path / "home", mcp_servers={"down": down})
    assert str(e.value).startswith("MCP server 'down': cannot connect") and "\n" not in str(e.value)
    assert e.value.exit_code == 2
    assert not _mcp_threads()


def test_doctor_lists_each_server_and_whether_it_answers(tmp_path, http_server):
    env = {**os.environ, "PYTHONPATH": ROOT, "STEPVOX_HOME": str(tmp_path / "home"),
           "STEPVOX_MCP_SERVERS": json.dumps({
               "orders": stdio_json(tmp_path / "calls.jsonl"),
               "web": {"url": http_server.url, "headers": {"X-Token": TOKEN}},
               "down": {"url": "http://127.0.0.1:9/mcp"},
               "missing": {"command": "no-such-mcp-server"},
           })}  # fmt: skip
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "assistant.cli", "doctor", "--json"],
                         capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)["mcp servers"]
    assert report["orders"].startswith("ok: 5 tools (stdio:")
    assert report["web"].startswith("ok: 5 tools (url:")
    assert report["down"].startswith("FAILED") and "cannot connect" in report["down"]
    assert report["missing"].startswith("FAILED") and "command not found: no-such-mcp-server" in report["missing"]
    assert TOKEN not in out.stdout
    assert time.perf_counter() - t0 < 60
    assert not server_pids(), "doctor left the stdio server running"


def test_settings_never_show_env_or_header_values(monkeypatch):
    from core.settings import load_settings

    monkeypatch.setenv("STEPVOX_MCP_SERVERS", json.dumps({
        "a": {"command": "srv", "env": {"API_KEY": "sekrit-1"}},
        "b": {"url": "https://h.example/mcp", "headers": {"Authorization": "Bearer sekrit-2"}},
    }))  # fmt: skip
    s = load_settings()
    assert s.mcp_servers["a"].env == {"API_KEY": "sekrit-1"}  # used as given
    shown = s.model_dump_json()
    assert "sekrit" not in shown and '"API_KEY":"<hidden>"' in shown and '"Authorization":"<hidden>"' in shown
