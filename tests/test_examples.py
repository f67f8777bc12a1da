"""Every script in examples/ runs as a user runs it (`python examples/NAME.py --out DIR`, a
subprocess, offline, on the real graph and checkpointers) and does what its docstring says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run_example(name: str, tmp_path: Path) -> tuple[str, Path]:
    out = tmp_path / "out"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "STEPVOX_HOME": str(tmp_path / "home"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), "--out", str(out)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stdout, out


def spoken(path: Path) -> float:
    """Seconds of audio in a reply file (asserted to be there)."""
    info = sf.info(str(path))
    assert info.frames > 0
    return info.frames / info.samplerate


def in_order(text: str, *pieces: str) -> None:
    at = 0
    for p in pieces:
        found = text.find(p, at)
        assert found >= 0, f"{p!r} not found (in order) in:\n{text}"
        at = found + len(p)


def test_every_example_is_tested_and_documented():
    scripts = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert scripts == sorted(TESTED)
    for name in scripts:
        src = (EXAMPLES / name).read_text()
        assert f"python examples/{name}" in src  # its docstring says how to run it
        assert len(src.splitlines()) <= 110  # small enough to read in one go


def test_custom_tool(tmp_path):
    stdout, out = run_example("custom_tool.py", tmp_path)
    in_order(stdout,
             "user:      Where is my order 1042?",
             "tool call: order_status({'order_id': '1042'}) -> {\"order_id\": \"1042\"",
             "assistant: Order 1042 is shipped and arrives Thursday.",
             "user:      And order 9999?",
             "tool call: order_status({'order_id': '9999'}) -> there is no order 9999 [error]",
             "assistant: Sorry, there is no order 9999.")  # fmt: skip
    assert spoken(out / "reply0.wav") > 1 and spoken(out / "reply1.wav") > 1


def test_subgraph(tmp_path):
    stdout, out = run_example("subgraph.py", tmp_path)
    in_order(stdout,
             "user: What is 12 times 7?",
             "stepvox event: {'type': 'tool_call', 'name': 'calculator'",  # from the sub-graph
             "stepvox event: {'type': 'tool_result', 'name': 'calculator'",
             "stepvox event: {'type': 'text_delta', 'text': '12 times 7 is 84.'}",
             "assistant: 12 times 7 is 84.",
             "user: Can you resend my invoice?",
             "assistant: Billing will email you a copy of your invoice.",
             "triage: 'What is 12 times 7?' -> stepvox",  # the app's own nodes and context
             "log: replied to ada: '12 times 7 is 84.'",
             "triage: 'Can you resend my invoice?' -> billing",
             "log: replied to ada: 'Billing will email",
             "messages in the app's checkpoint: 6")  # fmt: skip
    assert spoken(out / "reply0.wav") > 1
    assert not (out / "reply1.wav").exists()  # the billing node speaks no audio


def test_add_node(tmp_path):
    stdout, out = run_example("add_node.py", tmp_path)
    in_order(stdout,
             "paused before ('tools',): [('calculator', {'expression': '345 + 655'})]",
             "tool calls: [('calculator'",
             "assistant: 345 plus 655 is 1000.")  # fmt: skip
    audit = [json.loads(line) for line in (out / "audit.jsonl").read_text().splitlines()]
    assert [(a["tool"], json.loads(a["result"])["result"]) for a in audit] == [("calculator", 1000)]
    assert (out / "checkpoints.sqlite").stat().st_size > 0 and spoken(out / "reply.wav") > 1


def test_approval_tool(tmp_path):
    stdout, out = run_example("approval_tool.py", tmp_path)
    in_order(stdout,
             "turn: Before I use send email (to: Ada), I need your approval",
             "waiting: approval [('send_email', {'to': 'Ada'})]",
             "paused: True; outbox: []",  # nothing sent before the approval
             "approved: I sent the email to Ada.",
             "tool call: send_email({'to': 'Ada'})",
             "outbox: ['Ada']",
             "waiting: approval [('send_email', {'to': 'Bob'})]",
             "denied: ",
             "not approved (not today)",
             "outbox: ['Ada']")  # fmt: skip
    assert "stepvox threads approve ID" in (EXAMPLES / "approval_tool.py").read_text()
    for name in ("ask-1", "done-1", "ask-2", "done-2"):
        assert spoken(out / f"{name}.wav") > 1


def test_async_turn(tmp_path):
    stdout, out = run_example("async_turn.py", tmp_path)
    in_order(stdout,
             "[math] tool call calculator({'expression': '6 * 7'})",
             "[math] audio chunk",
             "streamed reply: 6 times 7 is 42.")  # fmt: skip
    assert "awaited reply: It's " in stdout and "tool calls: ['get_current_time']" in stdout
    ticks = int(stdout.split("the event loop ticked ")[1].split()[0])
    assert ticks >= 10  # the loop ran while the turns did
    assert spoken(out / "math.wav") > 1 and spoken(out / "time.wav") > 1


TESTED = ["custom_tool.py", "subgraph.py", "add_node.py", "approval_tool.py", "async_turn.py"]
