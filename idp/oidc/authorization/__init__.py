"""The authorization endpoint as a pipeline of small named steps (node-oidc-provider's
shape): the order of the steps is the table `pipeline.STEPS`.

- `checks`: the request (client and redirect URI through Authlib, request objects
  refused, response_mode, PKCE, prompt, max_age, claims, id_token_hint);
- `login`: the named reasons to show the login page (`LOGIN_CHECKS`);
- `profile`: the profile the tokens will carry;
- `consent`: the person's consent for a third-party client;
- `response`: the code, or the error, delivered by query or form_post;
- `flow`: the request on its way through the steps.

Where the person must answer, the pipeline writes a prompt on the interaction
(`idp.web.interactions`) and sends the browser to the page that asks it; it renders no
page itself.
"""
