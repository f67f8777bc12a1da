"""User-facing errors: the CLI prints one line and exits 2 (bad input or usage)."""


class UserError(Exception):
    """Bad input or usage. str(e) is one line naming the input and the problem."""

    exit_code = 2
