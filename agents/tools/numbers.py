"""Number words -> digits ('seventeen times twenty three' -> '17 times 23'), for the
parsers of spoken requests."""

from __future__ import annotations

import re

# -- numbers ------------------------------------------------------------------
_UNITS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen".split()
    )
}
_TENS = {
    w: 10 * i
    for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split())
    if w != "_"
}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
_NUMBER_WORDS = set(_UNITS) | set(_TENS) | set(_SCALES)


def words_to_numbers(text: str) -> str:
    """'seventeen times twenty three' -> '17 times 23'; 'two point five' -> '2.5'."""
    text = re.sub(r"(?<=[A-Za-z])-(?=[A-Za-z])", " ", text)  # twenty-three
    tokens = re.findall(r"[A-Za-z]+|\d+(?:[.,]\d+)*|[^\sA-Za-z\d]", text)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        t = tokens[i].lower()
        if t in _NUMBER_WORDS and not (t in _SCALES and not out):
            total, current, j = 0, 0, i
            while j < len(tokens):
                w = tokens[j].lower()
                if w in _UNITS:
                    current += _UNITS[w]
                elif w in _TENS:
                    current += _TENS[w]
                elif w == "hundred":
                    current = max(current, 1) * 100
                elif w in _SCALES:
                    total += max(current, 1) * _SCALES[w]
                    current = 0
                elif w == "and" and j + 1 < len(tokens) and tokens[j + 1].lower() in _NUMBER_WORDS:
                    pass
                else:
                    break
                j += 1
            value: str = str(total + current)
            # decimals: "two point five"
            if j + 1 < len(tokens) and tokens[j].lower() == "point" and tokens[j + 1].lower() in _UNITS:
                digits = []
                j += 1
                while j < len(tokens) and tokens[j].lower() in _UNITS:
                    digits.append(str(_UNITS[tokens[j].lower()]))
                    j += 1
                value += "." + "".join(digits)
            out.append(value)
            i = j
            continue
        out.append(tokens[i])
        i += 1
    text = " ".join(out)
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 1,000 -> 1000
    text = re.sub(r"\s+([?.!,])", r"\1", text)
    return text
