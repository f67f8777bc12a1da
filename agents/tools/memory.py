"""remember / recall / forget: long-term memory across conversations, in LangGraph's store.

`remember` keeps a fact the user states ("remember that my sister's name is Ada"); `recall`
hands back, in any later conversation, what the user told for a question ("what is my
sister's name?") as passages the policy answers from. A fact about the same thing replaces
the older one ("my sister's name is Eve" replaces "... is Ada"). `forget` deletes what the
user names ("forget my sister's name") or everything ("forget everything you know about me").

Both reach the store the graph was compiled with (`build_graph(..., store=...)`; the
`Assistant` opens one, agents.persistence) through LangGraph's `ToolRuntime`. Memories are
per user: namespace ("memories", <user id>), the user id from the run config
(`configurable.user_id`) or the run context (a `user_id` attribute), default "default".
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

from langchain_core.tools import BaseTool, ToolException
from langgraph.prebuilt import ToolRuntime

from agents.tools.base import error_sayer, regex_matcher, standard_tool, to_json
from model.policy import PreviousCall

NAMESPACE = "memories"
DEFAULT_USER = "default"
MAX_FACT_CHARS = 500
RECALL_LIMIT = 50  # the most recent memories a question is answered from
SOURCE_TITLE = "what you told me"

# -- what the user says -------------------------------------------------------------------------
_LEAD = r"(?:(?:hey|hi|ok|okay|so|and|also|please|now|actually|oh|well|by the way|one more thing)[,\s]+)*"
_POLITE = _LEAD + r"(?:(?:can|could|would|will) you\s+)?(?:please\s+)?"
_VERB = r"(?:remember|memori[sz]e|don'?t forget|do not forget|keep in mind|make a note|take a note|take note|note)"
_NOT_A_FACT = r"(?!\s+(?:what|when|where|who|whom|which|how|if|whether)\b)"
REMEMBER = re.compile(
    rf"^\s*{_POLITE}{_VERB}\b{_NOT_A_FACT}(?:\s+(?:this|for me|for later|of this))*\s*[:,]?\s*"
    r"(?P<that>that\s+)?(?P<fact>.*)$",
    re.I,
)
FORGET = re.compile(
    rf"^\s*{_POLITE}forget\b(?:\s+(?:about|that|what i (?:told|said to) you about|what you (?:know|remember) about))*"
    r"\s*(?P<what>.*)$",
    re.I,
)
_VAGUE = {"it", "that", "this", "them", "those"}
_NOT_NAMING = {"my", "our", "the", "a", "an", "where", "what", "when", "who", "which", "how", "about"}
_EVERYTHING = re.compile(r"^(?:everything|all(?: of it| that| my memories| you (?:know|remember))?)\b", re.I)
RECALL_EXPLICIT = [
    r"\b(?:do|did|can|could) you (?:still )?remember\b",
    r"\bwhat did i (?:tell|say to) you\b",
    r"\bwhat do you (?:remember|know) about me\b",
    r"\bdid i (?:tell|say to) you\b",
    r"\bi told you\b",
]

REMEMBER_EXAMPLES = [
    "remember that my sister's name is Ada", "please remember my wife's birthday is June 3",
    "don't forget that I parked on level 2", "keep in mind that I'm allergic to peanuts",
    "remember my locker code is 4512", "make a note that the plumber comes on Tuesday",
    "remember that my favourite colour is green", "note that our dog is called Rex",
]  # fmt: skip
REMEMBER_CUES = ["remember", "keep in mind", "note", "memorize", "memorise", "don't forget"]
RECALL_EXAMPLES = [
    "what is my sister's name", "what's my wife's birthday", "where did I park",
    "what is my favourite colour", "when is my mother's birthday", "what's my locker code",
    "do you remember my brother's name", "what did I tell you about my dog",
    "who is my dentist", "what is our dog called", "what am I allergic to",
]  # fmt: skip
RECALL_CUES = ["my", "mine", "our", "i", "remember", "told you"]
FORGET_EXAMPLES = [
    "forget my sister's name", "forget that my locker code is 4512",
    "forget everything you remember about me", "forget what I told you about my dentist",
    "please forget where I parked",
]  # fmt: skip

_FIRST_TO_SECOND = {
    "i am": "you are", "i'm": "you're", "i was": "you were", "i've": "you've", "i'll": "you'll",
    "i'd": "you'd", "i": "you", "me": "you", "my": "your", "mine": "yours", "myself": "yourself",
    "we are": "you are", "we're": "you're", "we were": "you were", "we": "you", "us": "you",
    "our": "your", "ours": "yours", "ourselves": "yourselves",
}  # fmt: skip
_PRONOUN = re.compile(
    r"\b(?:" + "|".join(sorted((re.escape(k) for k in _FIRST_TO_SECOND), key=len, reverse=True)) + r")\b",
    re.I,
)
_COPULA = re.compile(r"\s(?:is|are|was|were|am|equals)\s", re.I)
_recall_explicit = regex_matcher(*RECALL_EXPLICIT)
_ASKED = re.compile(rf"^\W*{_LEAD}(?:can|could|would|will) you\b", re.I)


def remember_request(text: str) -> re.Match[str] | None:
    """The request to remember something, or None. A question ("can you remember my sister's
    name?") asks to recall, unless it states a fact ("... that ...", "... is ...")."""
    t = text.strip()
    m = REMEMBER.match(t)
    if m is None:
        return None
    asked = t.endswith("?") or _ASKED.match(t) is not None
    if asked and not m.group("that") and not _COPULA.search(f" {m.group('fact')} "):
        return None
    return m


def second_person(fact: str) -> str:
    """The user's words as said back to them: "my sister's name is Ada" -> "your sister's ..."."""
    return _PRONOUN.sub(lambda m: _FIRST_TO_SECOND[m.group(0).lower()], fact)


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().strip(" .!?,;:").strip()


def memory_key(fact: str) -> str:
    """One key per thing a fact is about: the words before its first "is"/"are"... (a new
    value for the same thing replaces the old), else the whole fact."""
    subject = _COPULA.split(f" {fact} ", maxsplit=1)[0] if _COPULA.search(fact) else fact
    norm = " ".join(re.findall(r"[a-z0-9']+", subject.lower()))
    return hashlib.sha256(norm.encode()).hexdigest()[:24]


def namespace(user_id: str) -> tuple[str, str]:
    """The store namespace of a user's memories (a '.' may not appear in a label: escaped)."""
    return NAMESPACE, user_id.replace("%", "%25").replace(".", "%2E")


def _where(runtime: ToolRuntime) -> tuple[Any, str, str | None]:
    if runtime.store is None:
        raise ToolException("no long-term memory store (the graph was compiled without one)")
    conf = (runtime.config or {}).get("configurable", {})
    user = conf.get("user_id") or getattr(runtime.context, "user_id", None) or DEFAULT_USER
    if not isinstance(user, str) or "\x00" in user:
        raise ToolException("the user id must be text")
    return runtime.store, user, conf.get("thread_id")


# -- the tools ----------------------------------------------------------------------------------
def remember(fact: str, runtime: ToolRuntime) -> str:
    """Remember a fact the user states about themselves or their world, for later conversations."""
    fact = _clean(fact)
    if not fact:
        raise ToolException("there is nothing to remember in that")
    if len(fact) > MAX_FACT_CHARS:
        raise ToolException(f"that is too long to remember (at most {MAX_FACT_CHARS} characters)")
    store, user, thread = _where(runtime)
    ns, key = namespace(user), memory_key(fact)
    old = store.get(ns, key)
    store.put(ns, key, {"fact": fact, "thread": thread, "said": datetime.now(UTC).isoformat(timespec="seconds")})
    replaced = old.value.get("fact") if old is not None and old.value.get("fact") != fact else None
    return to_json({"remembered": fact, "replaced": replaced})


def recall(query: str, runtime: ToolRuntime) -> str:
    """Recall what the user told you in earlier conversations, to answer a question about it."""
    store, user, _ = _where(runtime)
    items = store.search(namespace(user), limit=RECALL_LIMIT)
    passages = [
        {"text": second_person(str(i.value.get("fact", ""))) + ".", "fact": i.value.get("fact"),
         "title": SOURCE_TITLE, "source": "memory", "said": i.value.get("said")}
        for i in items if i.value.get("fact")
    ]  # fmt: skip
    doc: dict[str, Any] = {"query": query, "passages": passages}
    if not passages:
        doc["note"] = "nothing has been remembered yet"
    return to_json(doc)


def forget(what: str, runtime: ToolRuntime) -> str:
    """Forget what the user told about something ("my sister's name"), or "everything"."""
    what = _clean(what)
    if not what:
        raise ToolException("say what to forget")
    store, user, _ = _where(runtime)
    ns = namespace(user)
    items = store.search(ns, limit=10_000)
    if _EVERYTHING.match(what):
        gone = items
    else:
        key, words = memory_key(what), set(re.findall(r"[a-z0-9']+", what.lower())) - _NOT_NAMING
        gone = [i for i in items if i.key == key
                or (words and words <= set(re.findall(r"[a-z0-9']+", str(i.value.get("fact", "")).lower())))]
    for i in gone:
        store.delete(ns, i.key)
    return to_json({"what": what, "forgotten": [i.value.get("fact") for i in gone],
                    "everything": bool(_EVERYTHING.match(what))})


# -- routing metadata -----------------------------------------------------------------------------
def parse_remember(text: str, previous: PreviousCall | None = None) -> dict[str, Any] | None:
    m = remember_request(text)
    if m is None:
        return None
    fact = _clean(re.sub(r"[,\s]+please$", "", _clean(m.group("fact")), flags=re.I))
    return {"fact": fact} if fact else None


def parse_recall(text: str, previous: PreviousCall | None = None) -> dict[str, Any] | None:
    """The question itself; None for a request to remember ("can you remember that ...?")."""
    query = _clean(text)
    return {"query": query} if query and remember_request(text) is None else None


def say_remember(result: Any, args: dict[str, Any]) -> str:
    fact = result.get("remembered") if isinstance(result, dict) else None
    fact = fact or args.get("fact") or ""
    return f"OK, I'll remember that {second_person(fact)}." if fact else "OK, I'll remember that."


def parse_forget(text: str, previous: PreviousCall | None = None) -> dict[str, Any] | None:
    m = FORGET.match(text.strip())
    what = _clean(m.group("what")) if m else ""
    return {"what": what} if what and what.lower() not in _VAGUE else None


def say_forget(result: Any, args: dict[str, Any]) -> str:
    if not isinstance(result, dict):
        return "OK."
    facts = [f for f in result.get("forgotten") or [] if f]
    if result.get("everything"):
        n = len(facts)
        return f"OK, I've forgotten everything you told me ({n} thing{'s' * (n != 1)})." if n else \
            "There was nothing to forget."
    if not facts:
        return f"I don't remember anything about {second_person(str(result.get('what') or args.get('what') or 'that'))}."
    return "OK, I've forgotten that " + " and that ".join(second_person(f) for f in facts) + "."


def make_tools() -> list[BaseTool]:
    return [
        standard_tool(
            remember, "remember",
            "Remember a fact the user states (\"remember that my sister's name is Ada\") for later conversations.",
            examples=REMEMBER_EXAMPLES, cues=REMEMBER_CUES, parse=parse_remember, say=say_remember,
            say_error=error_sayer("remember that"), explicit=lambda t: remember_request(t) is not None,
            clarify="What should I remember?",
        ),
        standard_tool(
            recall, "recall",
            "Recall what the user told you in earlier conversations (their family, plans, preferences).",
            examples=RECALL_EXAMPLES, cues=RECALL_CUES, parse=parse_recall, extractive=True,
            explicit=lambda t: _recall_explicit(t) and remember_request(t) is None, say_error=error_sayer("recall that"),
        ),
        standard_tool(
            forget, "forget",
            "Forget what the user told you about something, or everything they told you.",
            examples=FORGET_EXAMPLES, cues=["forget"], parse=parse_forget, say=say_forget,
            explicit=lambda t: FORGET.match(t.strip()) is not None, clarify="What should I forget?",
            say_error=error_sayer("forget that"),
        ),
    ]  # fmt: skip
