"""What a client proves itself with: an identity and its secret, sent with authenticate() first
on every new connection (docs/security.md). The same shapes as the Node client's
src/client/credentials.ts: "identity:secret" in a file or in LOCKD_CREDENTIAL.

A Credential never shows its secret: not in repr, str, or any error this package raises.
"""
from .errors import ConfigError

#: The variable holding "identity:secret" (the value itself, not a path), read by from_env.
CREDENTIAL_ENV = 'LOCKD_CREDENTIAL'


class Credential:
    """An identity and its secret; repr and str show the identity only. Immutable."""

    __slots__ = ('_identity', '_secret')

    def __init__(self, identity, secret):
        if not isinstance(identity, str) or not identity or any(c == ':' or c.isspace() for c in identity):
            raise ConfigError(f'credential identity {identity!r} must be a non-empty string, without ":" or spaces')
        if not isinstance(secret, str) or not secret:
            raise ConfigError(f'credential for {identity!r} has an empty or non-string secret')
        object.__setattr__(self, '_identity', identity)
        object.__setattr__(self, '_secret', secret)

    @property
    def identity(self):
        return self._identity

    @property
    def secret(self):
        """The secret, for authenticate() only."""
        return self._secret

    def __setattr__(self, name, value):
        raise AttributeError('a Credential cannot be changed')

    def __eq__(self, other):
        return isinstance(other, Credential) and (self._identity, self._secret) == (other._identity, other._secret)

    def __hash__(self):
        return hash(self._identity)

    def __repr__(self):
        return f'Credential({self._identity!r}, secret=<redacted>)'

    __str__ = __repr__

    def __reduce__(self):
        # Pickling would write the secret somewhere; refuse rather than leak it quietly.
        raise TypeError('a Credential is not picklable (it would store the secret)')


def to_credential(value):
    """A Credential from a Credential or an (identity, secret) pair; None stays None."""
    if value is None or isinstance(value, Credential):
        return value
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return Credential(value[0], value[1])
    # Never echo `value`: it may hold the secret.
    raise ConfigError(f'credential must be an (identity, secret) pair or a Credential, got a {type(value).__name__}')


def parse_credential(text, source):
    """Parses "identity:secret" (surrounding whitespace and a trailing newline ignored);
    `source` names where it came from in errors, which never print the text."""
    trimmed = text.strip()
    identity, colon, secret = trimmed.partition(':')
    if not colon or not identity or not secret:
        raise ConfigError(f'{source}: expected "identity:secret" (the secret is never printed)')
    return Credential(identity, secret)


def read_credential_file(path):
    """Reads a credential file (one line, "identity:secret"). Raises ConfigError naming the file."""
    try:
        with open(path, encoding='utf-8') as file:
            text = file.read()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f'credential file {path}: cannot read it: {getattr(error, "strerror", None) or error}') from None
    return parse_credential(text, f'credential file {path}')


def credential_from_env(env):
    """LOCKD_CREDENTIAL from `env`, or None when it is unset or empty."""
    text = env.get(CREDENTIAL_ENV)
    return parse_credential(text, CREDENTIAL_ENV) if text else None
