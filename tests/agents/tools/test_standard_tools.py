import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from langchain_core.messages import ToolCall

from agents.tools import default_tools, tool_specs
from agents.tools.calculator import calculator
from agents.tools.get_current_time import get_current_time
from agents.tools.get_weather import make_get_weather


def _tool(tools, name):
    return next(t for t in tools if t.name == name)


def test_time_in_iana_zone_and_city():
    d = json.loads(get_current_time(timezone="Asia/Tokyo"))
    assert d["timezone"] == "Asia/Tokyo" and d["utc_offset"] == "+0900"
    d = json.loads(get_current_time(place="Paris"))
    assert d["timezone"] == "Europe/Paris"


def test_tool_errors_become_error_results(tmp_path):
    tools = default_tools(tmp_path)
    msg = _tool(tools, "calculator").invoke(ToolCall(name="calculator", args={"expression": "1/0"}, id="c1", type="tool_call"))
    assert msg.status == "error" and "division by zero" in msg.content
    msg = _tool(tools, "get_current_time").invoke(
        ToolCall(name="get_current_time", args={"timezone": "Mars/Olympus"}, id="c2", type="tool_call")
    )
    assert msg.status == "error" and "Mars/Olympus" in msg.content
    assert json.loads(calculator("17 * 23"))["result"] == 391


def test_weather_offline_gives_a_clear_tool_error():
    weather = make_get_weather(timeout=2.0, geocode_url="http://127.0.0.1:9/search", forecast_url="http://127.0.0.1:9/f")
    from langchain_core.tools import ToolException

    with pytest.raises(ToolException, match="unreachable"):
        weather("Paris")


class _OpenMeteo(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        if self.path.startswith("/search"):
            body = {"results": [{"name": "Paris", "country": "France", "latitude": 48.85, "longitude": 2.35}]}
        else:
            body = {"current": {"temperature_2m": 11.4, "wind_speed_10m": 9.7, "weather_code": 3}}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


def test_weather_parses_open_meteo_answers_from_a_real_http_server():
    srv = HTTPServer(("127.0.0.1", 0), _OpenMeteo)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_port}"
    try:
        d = json.loads(make_get_weather(2.0, base + "/search", base + "/forecast")("Paris"))
    finally:
        srv.shutdown()
    assert d == {"place": "Paris", "country": "France", "temperature_c": 11.4, "wind_kmh": 9.7, "description": "overcast"}


def test_every_standard_tool_carries_its_routing_knowledge(tmp_path):
    specs = {s.name: s for s in tool_specs(default_tools(tmp_path))}
    assert set(specs) == {"get_current_time", "calculator", "web_search", "get_weather",
                          "retrieve_knowledge", "audio_search", "remember", "recall",
                          "forget", "handoff_to_human"}
    for s in specs.values():
        assert s.examples and s.parse is not None and s.say_error is not None
        assert "parse" not in s.model_dump()  # callables never leave the process
    assert specs["retrieve_knowledge"].extractive and specs["retrieve_knowledge"].fallback == "web_search"
    lookups = sorted((s.lookup, n) for n, s in specs.items() if s.lookup is not None)
    assert [n for _, n in lookups] == ["retrieve_knowledge", "web_search"]
    assert specs["get_weather"].parse("what's the weather like", None) is None and specs["get_weather"].clarify
    assert specs["web_search"].explicit("search online for hiking trails")
    assert specs["get_current_time"].parse("and in London?", None)["timezone"] == "Europe/London"


def test_the_corpus_store_is_opened_once_per_tool_set_or_taken_as_given(tmp_path, monkeypatch):
    from agents.tools import retrieve_knowledge
    from retrieval import CorpusStore

    opened = []
    real_open = retrieve_knowledge.open_corpus
    monkeypatch.setattr(retrieve_knowledge, "open_corpus", lambda d: opened.append(d) or real_open(d))
    tools = default_tools(tmp_path)
    assert opened == []  # nothing is opened before the first call
    rk = _tool(tools, "retrieve_knowledge")
    assert json.loads(rk.invoke({"query": "anything"}))["passages"] == []
    rk.invoke({"query": "again"})
    assert opened == [tmp_path / "corpora"]  # once, not per call
    tools.close()

    given = CorpusStore(tmp_path / "given")
    tools = default_tools(tmp_path, corpus=given)
    assert json.loads(_tool(tools, "retrieve_knowledge").invoke({"query": "x"}))["passages"] == []
    tools.close()  # the caller's store stays open
    assert len(opened) == 1 and given.is_empty()
    given.close()
