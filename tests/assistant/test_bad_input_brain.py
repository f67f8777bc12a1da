"""The chat brain through the real `stepvox` command and the Python API: one good turn with
`--brain-url` (a scripted OpenAI-compatible server on loopback that calls a real tool), then
bad input.

Bad options and settings exit 2 with one line naming the option or setting, before anything
loads, and leave STEPVOX_HOME exactly as it was. A brain server that is down, failing or
speaking nonsense fails the turn with one line naming the endpoint (exit 1 on the command
line, `PolicyUnavailable` in Python), and the conversation stays exactly as it was.
"""

from __future__ import annotations

import json
import shutil
import socket

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_openai import ChatOpenAI

from agents import Assistant
from model.chat_brain import ChatBrainPolicy
from model.policy import PolicyUnavailable
from tests.agents.conversation_checks import rows_digest, stored_messages, whole_turn_problems
from tests.agents.scripted_chat import ScriptedChat
from tests.assistant.test_bad_input_cli import digest, run


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A STEPVOX_HOME holding one conversation made by `ask --brain-url` (a tool-call turn)."""
    home = tmp_path_factory.mktemp("home")
    out = tmp_path_factory.mktemp("out") / "reply.wav"
    with ScriptedChat("tool") as server:
        p = run(["ask", "what is 17 times 23", "-o", str(out), "--thread", "seed", "--json",
                 "--brain-url", server.url, "--brain-model", "scripted"], home)
    return home, out, p


def test_ask_with_a_brain_url_calls_a_real_tool_and_speaks_the_answer(seeded):
    home, out, p = seeded
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["policy"] == "chat" and doc["info"]["model"] == "scripted"
    assert [(c["name"], c["arguments"]) for c in doc["tool_calls"]] == [("calculator", {"expression": "17 * 23"})]
    assert "391" in doc["tool_calls"][0]["result"] and "It is 391." in doc["reply_text"]
    assert doc["info"]["reply_duration_s"] > 1.0 and out.is_file()
    assert whole_turn_problems(stored_messages(home, "seed")) == []


URL = "http://127.0.0.1:9/v1"
EXIT_2 = {
    "not a url": (["ask", "hi", "--brain-url", "not a url"], {},
                  "--brain-url 'not a url': expected an http:// or https:// URL"),
    "bad port": (["ask", "hi", "--brain-url", "http://127.0.0.1:99999/v1"], {}, "--brain-url 'http://127.0.0.1:99999/v1': bad port"),
    "ftp url": (["ask", "hi", "--brain-url", "ftp://example.org/v1"], {}, "--brain-url 'ftp://example.org/v1': expected an http"),
    "brain url with another policy": (["ask", "hi", "--policy", "embedded", "--brain-url", URL], {},
                                      "--brain-url is for the chat policy, not --policy 'embedded'"),
    "chat policy without a url": (["ask", "hi", "--policy", "chat"], {}, "--policy chat needs --brain-url URL"),
    "empty model name": (["ask", "hi", "--brain-url", URL, "--brain-model", " "], {}, "--brain-model ' ': must not be empty"),
    "model name without a brain": (["ask", "hi", "--brain-model", "llama3"], {},
                                   "--brain-model is for the chat policy, not --policy 'embedded'"),
    "bad url in the environment": (["ask", "hi"], {"STEPVOX_BRAIN_URL": "localhost:11434"},
                                   "setting STEPVOX_BRAIN_URL = 'localhost:11434': expected an http"),
    "respond": (["respond", "missing.wav", "--brain-url", "nope"], {}, "--brain-url 'nope': expected an http"),
    "chat": (["chat", "--brain-url", "nope"], {}, "--brain-url 'nope': expected an http"),
    "serve": (["serve", "--brain-url", "nope"], {}, "--brain-url 'nope': expected an http"),
    "doctor": (["doctor", "--brain-url", "nope"], {}, "--brain-url 'nope': expected an http"),
}


@pytest.mark.parametrize("case", list(EXIT_2))
def test_bad_brain_options_exit_2_with_one_line_and_change_nothing(seeded, tmp_path, case):
    home = seeded[0]
    args, env, expected = EXIT_2[case]
    if args[0] in ("ask", "respond"):
        args = [*args, "-o", str(tmp_path / "r.wav"), "--thread", "seed"]
    before = digest(home)
    p = run(args, home, env)
    assert p.returncode == 2, (p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines
    assert "Traceback" not in p.stderr and not (tmp_path / "r.wav").exists()
    assert digest(home) == before


def test_cli_with_the_brain_server_down_exits_1_with_one_line(seeded, tmp_path):
    home = seeded[0]
    port = closed_port()
    before = rows_digest(home)
    p = run(["ask", "are you there?", "-o", str(tmp_path / "r.wav"), "--thread", "seed",
             "--brain-url", f"http://127.0.0.1:{port}"], home)
    assert p.returncode == 1
    assert p.stderr.strip().splitlines() == [f"error: chat brain http://127.0.0.1:{port}/v1: connection refused"]
    assert p.stdout == "" and not (tmp_path / "r.wav").exists()
    assert rows_digest(home) == before


def test_cli_with_a_failing_brain_server_exits_1_with_one_line(seeded, tmp_path):
    home = seeded[0]
    before = rows_digest(home)
    with ScriptedChat("status", status=500, body=b'{"error": {"message": "CUDA out of memory"}}') as server:
        p = run(["ask", "are you there?", "-o", str(tmp_path / "r.wav"), "--thread", "seed",
                 "--brain-url", server.url, "--brain-model", "scripted"], home)
    assert p.returncode == 1
    assert p.stderr.strip().splitlines() == [
        f'error: chat brain {server.url}: HTTP 500 Internal Server Error: {{"error": {{"message": "CUDA out of memory"}}}}']
    assert rows_digest(home) == before


FAILING = {
    "http 500": (dict(mode="status", status=500, body=b"model crashed\nTraceback ..."),
                 ": HTTP 500 Internal Server Error: model crashed Traceback ..."),
    "http 404 (no such model)": (dict(mode="status", status=404, body=b'{"error":"model \\"llama9\\" not found"}'),
                                 ': HTTP 404 Not Found: {"error":"model \\"llama9\\" not found"}'),
    "html instead of events": (dict(mode="garbage"), ": malformed reply: no chat-completion events"),
    "an event is not json": (dict(mode="bad-json"), ": malformed reply: an event is not JSON ({this is not json)"),
}


@pytest.mark.parametrize("case", list(FAILING))
def test_a_failing_brain_fails_the_turn_and_leaves_the_conversation_as_it_was(seeded, tmp_path, case):
    home = tmp_path / "home"
    shutil.copytree(seeded[0], home)
    opts, problem = FAILING[case]
    before = rows_digest(home)
    with ScriptedChat(**opts) as server:
        a = Assistant(ChatBrainPolicy(base_url=server.url, model="llama9"), home)
        try:
            with pytest.raises(PolicyUnavailable) as e:
                a.respond(text="and now?", thread_id="seed")
        finally:
            a.close()
    assert str(e.value) == f"chat brain {server.url}{problem}"
    assert rows_digest(home) == before
    assert whole_turn_problems(stored_messages(home, "seed")) == []


NO_MODEL_NAME = {
    "an empty list": ((), "no model named (brain_model) and the server lists none"),
    "no list at all": (None, "no model named (brain_model) and GET /models failed: HTTP 404 Not Found: not found"),
}


@pytest.mark.parametrize("case", list(NO_MODEL_NAME))
def test_no_model_name_and_no_model_from_the_server_is_one_line(case):
    models, problem = NO_MODEL_NAME[case]
    with ScriptedChat("echo", models=models) as server:
        with pytest.raises(PolicyUnavailable) as e:
            list(ChatBrainPolicy(base_url=server.url).stream([], []))
        assert server.requests == []
    assert str(e.value) == f"chat brain {server.url}: {problem}"


BAD_CONSTRUCTION = {
    "nothing given": (dict(), "chat policy needs a chat model object (model=...) or base_url"),
    "not a chat model": (dict(model=42), "model must be a LangChain chat model or a model name, not int"),
    "object and url": (dict(model=ChatOpenAI(api_key="k", model="m"), base_url=URL),
                       "base_url apply to base_url; set them on the chat model object"),
    "no tool calling": (dict(model=FakeListChatModel(responses=["hi"])),
                        "FakeListChatModel has no native tool calling (bind_tools)"),
}


@pytest.mark.parametrize("case", list(BAD_CONSTRUCTION))
def test_a_bad_brain_in_python_is_refused_with_one_line(case):
    opts, expected = BAD_CONSTRUCTION[case]
    with pytest.raises(ValueError) as e:
        ChatBrainPolicy(**opts)
    assert expected in str(e.value) and "\n" not in str(e.value)
