from wtforms import (
    BooleanField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from idp.oidc.capabilities import NEW_CLIENT_SIGNING_ALGORITHM, SIGNING_ALGORITHMS
from idp.web.forms import Form, MultiCheckboxField
from idp.web.session import ACR_LADDER

ACR_LABELS = {"eidas1": "eidas1 – le mot de passe",
              "eidas2": "eidas2 – le mot de passe et une double authentification"}


class ClientForm(Form):
    name = StringField("Nom de l'application",
                       validators=[DataRequired("Le nom est obligatoire."), Length(max=255)])
    domains = MultiCheckboxField("Domaines", validators=[DataRequired(
        "Choisissez au moins un domaine.")])
    kind = RadioField("Type de client", choices=[
        SelectChoice("confidential", "Confidentiel (application serveur, avec un secret)"),
        SelectChoice("public", "Public (application mobile ou monopage, PKCE obligatoire)"),
    ], default="confidential")
    first_party = BooleanField("Application de l'écosystème PLAGE (pas de demande de consentement)")
    redirect_uris = TextAreaField("URI de redirection (une par ligne)",
                                  validators=[Optional(), Length(max=4000)])
    post_logout_redirect_uris = TextAreaField("URI après déconnexion (une par ligne)",
                                              validators=[Optional(), Length(max=4000)])
    backchannel_logout_uri = StringField("URI de déconnexion back-channel",
                                         validators=[Optional(), Length(max=1000)])
    id_token_signed_response_alg = SelectField("Algorithme de signature de l'ID token",
                                               choices=[SelectChoice(alg) for alg
                                                        in SIGNING_ALGORITHMS],
                                               default=NEW_CLIENT_SIGNING_ALGORITHM)
    required_acr = SelectField(
        "Niveau d'authentification exigé", default="",
        choices=[SelectChoice("", "Aucune exigence (le mot de passe suffit)"),
                 *[SelectChoice(level, ACR_LABELS.get(level, level)) for level in ACR_LADDER]])
