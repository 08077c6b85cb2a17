"""The one exception users are meant to read."""


class SigattnError(ValueError):
    """A problem with the user's input: the message names the input and what was expected."""
