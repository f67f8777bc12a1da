"""The calculator tool: a safe arithmetic evaluator (Python's parser builds the tree, we walk
only number nodes, + - * / // % **, unary signs and a few math functions; never eval), its
spoken-arithmetic parser (with "times two" continuing from the previous result) and how
its result is said."""

from __future__ import annotations

import ast
import json
import math
import operator
import re
from typing import Any

from langchain_core.tools import BaseTool, ToolException

from agents.tools.base import error_sayer, standard_tool, to_json
from agents.tools.spoken_math import spoken_arithmetic
from model.policy import PreviousCall
from model.speech import say_number

NAME = "calculator"
DESCRIPTION = "Do arithmetic: evaluate a math expression."
EXAMPLES = [
    "what is 17 times 23", "calculate 45 plus 12", "what's 100 divided by 4",
    "how much is 12 times 12", "what is the square root of 81", "compute 2 to the power of 10",
    "what is 15 percent of 80", "add 5 and 7",
]  # fmt: skip
CUES = [
    "plus", "minus", "times", "divided", "multiplied", "calculate", "compute", "square root",
    "percent", "squared", "sum", "product",
]  # fmt: skip

_BIN = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCS = {
    "sqrt": math.sqrt, "abs": abs, "round": round, "log": math.log, "log10": math.log10,
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "exp": math.exp, "floor": math.floor,
    "ceil": math.ceil,
}
_CONSTS = {"pi": math.pi, "e": math.e}
MAX_EXPONENT = 1000
MAX_LEN = 200


class CalculatorError(ValueError):
    pass


def evaluate(expression: str) -> float | int:
    expr = expression.strip().replace("^", "**").replace("×", "*").replace("÷", "/")
    if not expr:
        raise CalculatorError("empty expression")
    if len(expr) > MAX_LEN:
        raise CalculatorError("expression is too long")
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as e:
        raise CalculatorError(f"cannot parse {expression!r}") from e
    return _eval(tree.body)


def _eval(node: ast.AST) -> float | int:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTS:
        return _CONSTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise CalculatorError("exponent is too large")
        try:
            value = _BIN[type(node.op)](left, right)
        except ZeroDivisionError as e:
            raise CalculatorError("division by zero") from e
        if isinstance(value, complex):
            raise CalculatorError("the result is not a real number")
        return value
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCS
        and not node.keywords
        and len(node.args) in (1, 2)
    ):
        try:
            return _FUNCS[node.func.id](*[_eval(a) for a in node.args])
        except ValueError as e:
            raise CalculatorError(f"{node.func.id}: {e}") from e
    raise CalculatorError(f"unsupported element in expression: {ast.dump(node)[:40]}")


# -- the tool ------------------------------------------------------------------------------
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression (+ - * / ** %, parentheses, sqrt) safely."""
    try:
        value = evaluate(expression)
    except CalculatorError as e:
        raise ToolException(str(e)) from None
    return to_json({"expression": expression, "result": value})


def previous_result(previous: PreviousCall | None) -> float | None:
    """The number the previous calculation gave, for 'times two'."""
    if previous is None or previous.name != NAME:
        return None
    try:
        value = json.loads(previous.result).get("result")
        return float(value) if isinstance(value, int | float) else None
    except (json.JSONDecodeError, AttributeError, TypeError):
        m = re.search(r"-?\d+(?:\.\d+)?", previous.result)
        return float(m.group(0)) if m else None


def parse(text: str, previous: PreviousCall | None = None) -> dict[str, Any] | None:
    expr = spoken_arithmetic(text, previous_result(previous))
    return {"expression": expr} if expr else None


def say(result: Any, args: dict[str, Any]) -> str:
    expr = str(args.get("expression", ""))
    spoken = (
        expr.replace("**", " to the power of ").replace("*", " times ").replace("/", " divided by ")
        .replace("+", " plus ").replace(" - ", " minus ").replace("sqrt", "the square root of ")
    )
    spoken = re.sub(r"\s+", " ", spoken).strip()
    value = result.get("result") if isinstance(result, dict) else result
    return f"{spoken} is {say_number(value)}."


def make_tool() -> BaseTool:
    return standard_tool(
        calculator, NAME, DESCRIPTION,
        examples=EXAMPLES, cues=CUES, parse=parse, say=say,
        say_error=error_sayer("work that out"),
        # arithmetic said outright is a strong signal whatever the wording
        explicit=lambda text: spoken_arithmetic(text) is not None,
    )  # fmt: skip
