import pytest

from agents.calculator import CalculatorError, evaluate


def test_arithmetic():
    assert evaluate("17 * 23") == 391
    assert evaluate("2 ** 10") == 1024
    assert evaluate("sqrt(81)") == 9
    assert evaluate("(1 + 2) * -3") == -9
    assert evaluate("15 / 100 * 80") == pytest.approx(12)


@pytest.mark.parametrize(
    "bad", ["__import__('os').system('true')", "open('x')", "9 ** 99999", "1 / 0", "a + b", "", "(1,2)", "[1][0]"]
)
def test_never_evaluates_anything_but_arithmetic(bad):
    with pytest.raises(CalculatorError):
        evaluate(bad)
