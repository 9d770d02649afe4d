"""One authorization request on its way through the pipeline, and how a step ends it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import OAuth2Request
from werkzeug.wrappers import Response

from idp.clients.models import Client
from idp.directory.models import Account
from idp.oidc.capabilities import DEFAULT_RESPONSE_MODE, RESPONSE_MODES
from idp.web import interactions
from idp.web.interactions import Interaction, Prompt
from idp.web.session import LoginState


class AuthorizationFailed(Exception):
    """Ends the flow with an OAuth error (delivered by `response.error_response`)."""

    def __init__(self, error: OAuth2Error) -> None:
        super().__init__(error.error)
        self.error = error


def fail(error_cls: type[OAuth2Error], description: str) -> AuthorizationFailed:
    return AuthorizationFailed(error_cls(description=description))


@dataclass
class Flow:
    """What the steps learn about the request as they go (nothing here is stored but the
    interaction)."""

    interaction: Interaction
    oauth_request: OAuth2Request  # as Authlib validates it
    arriving: bool = False  # just sent by the client (False when the pipeline resumes)
    grant: Any = None  # Authlib's CodeGrant, once the client and redirect URI are known
    client: Client | None = None
    redirect_uri: str | None = None  # proven: registered for the client, exactly
    hint_subject: str | None = None  # the person the id_token_hint names
    login: LoginState | None = None
    account: Account | None = None
    profile_id: int | None = None  # the profile the tokens will carry
    remembered_profile_id: int | None = None  # the last choice for this client, if read

    @property
    def uid(self) -> str:
        return self.interaction.uid

    @property
    def params(self) -> dict[str, str]:
        return self.interaction.params

    @property
    def notes(self) -> dict[str, Any]:
        return self.interaction.notes

    def result(self, prompt: str) -> dict[str, Any] | None:
        """The person's answer to `prompt` in this interaction, if any."""
        return self.interaction.result.get(prompt)

    @property
    def prompts(self) -> set[str]:
        return set((self.params.get("prompt") or "").split())

    @property
    def max_age(self) -> int | None:
        raw = self.params.get("max_age")  # digits only: checked by checks.check_max_age
        return None if raw is None else int(raw)

    @property
    def response_mode(self) -> str:
        mode = self.params.get("response_mode") or DEFAULT_RESPONSE_MODE
        return mode if mode in RESPONSE_MODES else DEFAULT_RESPONSE_MODE

    @property
    def scopes(self) -> list[str]:
        assert self.client is not None
        return self.client.get_allowed_scope(self.params.get("scope") or "").split()

    @property
    def claims_request(self) -> dict[str, Any] | None:
        raw = self.params.get("claims")  # valid JSON: checked by checks.check_claims_parameter
        return json.loads(raw) if raw else None

    def ask(self, name: str, details: dict[str, Any], reasons: Iterable[str] = ()
            ) -> Response:
        """Stop here: the page of prompt `name` asks the person, then the flow resumes."""
        assert self.client is not None
        prompt = Prompt(name=name, reasons=list(reasons),
                        account_id=self.account.id if self.account else None,
                        details={"client_id": self.client.client_id,
                                 "client_name": self.client.name, **details})
        return interactions.ask(self.interaction, prompt)
