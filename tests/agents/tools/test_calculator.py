import pytest

from agents.tools.calculator import CalculatorError, evaluate, parse, say
from model.policy import PreviousCall


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


def test_spoken_request_is_parsed_and_its_result_said():
    assert parse("What is seventeen times twenty-three?") == {"expression": "17 * 23"}
    assert parse("what time is it") is None
    assert say({"expression": "17 * 23", "result": 391}, {"expression": "17 * 23"}) == "17 times 23 is 391."
    assert say({"result": 4.5}, {"expression": "sqrt(81) / 2"}) == "the square root of (81) divided by 2 is 4.5."


def test_a_follow_up_continues_from_the_previous_result_not_its_expression():
    prev = PreviousCall(name="calculator", arguments={"expression": "17 * 23"},
                        result='{"expression": "17 * 23", "result": 391}')
    assert parse("times two", prev) == {"expression": "391 * 2"}
    assert parse("and plus 9", prev) == {"expression": "391 + 9"}
    other = PreviousCall(name="get_current_time", arguments={}, result='{"result": 5}')
    assert parse("times two", other) is None  # another tool's result is not a number to go on from
