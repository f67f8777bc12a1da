"""Spoken arithmetic -> an expression in the calculator's syntax ('what's the square root
of eighty one' -> 'sqrt(81)'). Plain rules over the recognized text; None when there is no
arithmetic in it."""

from __future__ import annotations

import re

from agents.tools.numbers import words_to_numbers

# -- arithmetic -----------------------------------------------------------------
_NUM = r"-?\d+(?:\.\d+)?"
_OPS = [
    (r"\bto the power of\b|\braised to(?: the power of)?\b|\*\*", " ^ "),
    (r"\bmultiplied by\b|\btimes\b|×|\*|(?<=\d)\s*x\s*(?=\d)", " * "),
    (r"\bdivided by\b|\bover\b|÷|/", " / "),
    (r"\bplus\b|\+", " + "),
    (r"\bminus\b|−|(?<=\d)\s+-\s+(?=\d)", " - "),
    (r"\bmodulo\b|\bmod\b", " % "),
]


# "add 5 and 7", "subtract 3 from 10", ...: the verb names the operator, the order of the
# numbers depends on the verb
_COMMANDS = [
    (rf"\badd\s+({_NUM})\s+(?:and|to)\s+({_NUM})", "{0} + {1}"),
    (rf"\bsubtract\s+({_NUM})\s+from\s+({_NUM})", "{1} - {0}"),
    (rf"\bmultiply\s+({_NUM})\s+(?:by|and|with)\s+({_NUM})", "{0} * {1}"),
    (rf"\bdivide\s+({_NUM})\s+by\s+({_NUM})", "{0} / {1}"),
]


def spoken_arithmetic(text: str, previous_result: float | None = None) -> str | None:
    """An arithmetic expression in the text, in the calculator's syntax, or None.

    Handles '17 times 23', 'what's 2 plus 2 times 3', 'square root of 81',
    '15 percent of 80', 'add 5 and 7', 'subtract 3 from 10', 'multiply 6 by 7',
    'divide 10 by 4', '5 squared'. A follow-up that starts with an operator
    ('times two', 'plus 9') continues from `previous_result`.
    """
    t = words_to_numbers(text.lower())
    t = t.replace("what's", "what is")
    for pattern, template in _COMMANDS:
        m = re.search(pattern, t)
        if m:
            return template.format(*m.groups())
    t = re.sub(rf"({_NUM})\s*(?:percent|%)\s+of\s+({_NUM})", r"(\1 / 100 * \2)", t)
    t = re.sub(rf"\b(?:the\s+)?square root of\s+({_NUM})", r"sqrt(\1)", t)
    t = re.sub(rf"({_NUM})\s+squared\b", r"\1 ^ 2", t)
    t = re.sub(rf"({_NUM})\s+cubed\b", r"\1 ^ 3", t)
    for pattern, op in _OPS:
        t = re.sub(pattern, op, t)
    # the longest run of numbers, operators, parentheses and sqrt(...)
    runs = re.findall(r"(?:sqrt\(|[\d.()+\-*/%^\s])+", t)
    best = None
    for r in runs:
        r = r.strip()
        if not re.search(r"\d", r):
            continue
        has_op = re.search(r"\d\s*[-+*/%^]|sqrt\(", r)
        if has_op and (best is None or len(r) > len(best)):
            best = r
    if best is not None:
        best = re.sub(r"\s+", " ", best).strip().rstrip("+-*/%^. ").replace("^", "**")
        if best.count("(") != best.count(")"):
            best = best.replace("(", "").replace(")", "") if "sqrt" not in best else best
        return best or None
    if previous_result is not None:
        m = re.match(r"\s*(?:and\s+|now\s+|then\s+)?([-+*/%]|\*\*)\s*(" + _NUM + r")", t)
        if m:
            prev = f"{previous_result:g}"
            return f"{prev} {m.group(1)} {m.group(2)}"
    return None
