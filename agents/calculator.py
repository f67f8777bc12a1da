"""A safe arithmetic evaluator: Python's parser builds the tree, we walk only number nodes,
+ - * / // % **, unary signs and a few math functions. Never eval."""

from __future__ import annotations

import ast
import math
import operator

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
