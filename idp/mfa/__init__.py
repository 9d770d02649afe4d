"""The second factor: TOTP codes (RFC 6238) and recovery codes, their enrolment from
Mon compte, and the page of the login that asks the code after the password."""
