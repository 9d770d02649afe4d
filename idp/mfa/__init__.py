"""The second factor: TOTP codes (RFC 6238) and recovery codes, passkeys (WebAuthn), their
enrolment from Mon compte, the page of the login that asks one after the password, and
the sign-in with a passkey alone."""
