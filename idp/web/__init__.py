"""The web kernel every page package builds on.

The server-side session and the person signed in (`session`), who may see a page
(`access`), local redirects (`redirects`) and the authorization requests under way
(`interactions`). Page packages import this kernel, never one another.
"""
