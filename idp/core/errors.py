"""The base errors every domain raises; their message is shown as is to French users."""


class RuleViolation(Exception):
    """An operation the PLAGE rules forbid; str(exc) is the French explanation."""


class NotFound(RuleViolation):
    """The thing named does not exist (an identifier, a code, a client id)."""
