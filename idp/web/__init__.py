"""The web kernel every page package builds on.

The server-side session and the person signed in (`session`), who may see a page
(`access`), local redirects (`redirects`), and the authorization requests under way
(`interactions`): the one-way interface through which the OIDC pipeline asks the login,
profile and consent pages a question and reads their answer. Page packages import this
kernel, never one another, nor the OIDC layer.
"""
