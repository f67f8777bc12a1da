"""Long-term memory across conversations (the `remember`, `recall` and `forget` tools on
LangGraph's store): a fact the user states in one thread answers a question in another, with
the embedded policy routing the phrasings, on SQLite (the default) and on a real PostgreSQL
server."""

from __future__ import annotations

import stat

import pytest
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from agents import Assistant, build_graph
from agents.tools import default_tools
from agents.tools.memory import namespace
from model.embedded.policy import EmbeddedPolicy


@pytest.fixture(scope="module")
def policy():
    return EmbeddedPolicy()


def called(result) -> list[str]:
    return [c.name for c in result.tool_calls]


@pytest.fixture(params=["sqlite", "postgres"])
def checkpointer(request):
    return None if request.param == "sqlite" else request.getfixturevalue("pg_url")


def test_a_fact_remembered_in_one_thread_is_used_in_another(policy, tmp_path, checkpointer):
    home = tmp_path / "home"
    a = Assistant(policy, home, checkpointer=checkpointer)
    try:
        told = a.respond(text="Remember that my sister's name is Ada.", thread_id="monday")
        assert called(told) == ["remember"]
        assert told.reply_text == "OK, I'll remember that your sister's name is Ada."
        asked = a.respond(text="What is my sister's name?", thread_id="friday")
        assert called(asked) == ["recall"] and "your sister's name is Ada" in asked.reply_text
        assert len(a.history("friday")) == 4  # the question, the call, the memories, the answer
    finally:
        a.close()
    # a new assistant on the same home/database (as the next process would be): still known;
    # another user's memories are their own
    a = Assistant(policy, home, checkpointer=checkpointer)
    bob = Assistant(policy, home, checkpointer=checkpointer, user_id="bob")
    try:
        assert "Ada" in a.respond(text="Do you remember my sister's name?", thread_id="sunday").reply_text
        theirs = bob.respond(text="What is my sister's name?", thread_id="bobs")
        assert called(theirs) == ["recall"] and "Ada" not in theirs.reply_text
        assert a.store.search(namespace("bob")) == []
    finally:
        a.close()
        bob.close()
    if checkpointer is None:
        assert stat.S_IMODE((home / "memory.sqlite").stat().st_mode) == 0o600


def test_a_newer_fact_replaces_the_older_and_forget_deletes(policy, tmp_path):
    a = Assistant(policy, tmp_path / "home")
    try:
        a.respond(text="Remember that my sister's name is Ada.", thread_id="a")
        a.respond(text="Please remember my locker code is 4512.", thread_id="a")
        a.respond(text="Actually, remember that my sister's name is Eve.", thread_id="b")
        facts = sorted(i.value["fact"] for i in a.store.search(namespace("default")))
        assert facts == ["my locker code is 4512", "my sister's name is Eve"]
        answer = a.respond(text="What is my sister's name?", thread_id="c").reply_text
        assert "Eve" in answer and "Ada" not in answer
        assert "4512" in a.respond(text="What's my locker code?", thread_id="c").reply_text
        # and forgotten on request: one thing, then everything
        gone = a.respond(text="Please forget my locker code.", thread_id="d")
        assert called(gone) == ["forget"] and gone.reply_text == "OK, I've forgotten that your locker code is 4512."
        assert "4512" not in a.respond(text="What's my locker code?", thread_id="d").reply_text
        assert a.respond(text="Forget everything you know about me.", thread_id="d").reply_text == \
            "OK, I've forgotten everything you told me (1 thing)."
        assert a.store.search(namespace("default")) == []
    finally:
        a.close()


def test_a_developers_graph_gives_the_tools_its_own_store_and_user(policy, tmp_path):
    """build_graph(..., store=...) with any BaseStore; the user id comes from the run config."""
    store = InMemoryStore()
    graph = build_graph(policy, default_tools(tmp_path / "home"), InMemorySaver(), store=store)

    def turn(text, thread, user):
        config = {"configurable": {"thread_id": thread, "user_id": user}}
        out = graph.invoke({"messages": [{"role": "user", "content": text}]}, config)
        return out["messages"][-1]

    turn("Remember that my dentist is Dr. Smith.", "t1", "ada.lovelace")
    assert [i.value["fact"] for i in store.search(namespace("ada.lovelace"))] == ["my dentist is Dr. Smith"]
    reply = turn("Who is my dentist?", "t2", "ada.lovelace")
    assert isinstance(reply, AIMessage) and "Dr. Smith" in reply.text


def test_without_a_store_the_tool_says_why(policy, tmp_path):
    graph = build_graph(policy, default_tools(tmp_path / "home"), InMemorySaver())  # no store
    out = graph.invoke({"messages": [{"role": "user", "content": "Remember that my cat is Tom."}]},
                       {"configurable": {"thread_id": "t"}})
    assert out["messages"][-1].text == ("Sorry, I couldn't remember that: no long-term memory store "
                                        "(the graph was compiled without one).")
