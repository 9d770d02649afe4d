"""Mon compte › Mon identifiant and Mon historique: the identifier and the state of the
account (the SAGA guide's « je contrôle que mon identifiant est actif »), and the audit
records about the account, newest first, a page at a time."""

from __future__ import annotations

from flask import render_template

from idp.directory import accounts, rules
from idp.directory.enums import AccountState
from idp.selfservice.by_mail import PARIS
from idp.selfservice.profiles import PROFILE_STATES
from idp.selfservice.views import bp
from idp.web import paging
from idp.web.access import login_required, signed_in_account

PAGE_SIZE = 20

# What each audited action is called on the page; an action not listed shows its code.
ACTIONS = {
    "account.create": "Création du compte",
    "account.update": "Modification des informations personnelles",
    "account.email_change_request": "Demande de changement d'adresse électronique",
    "account.email_change": "Changement d'adresse électronique",
    "account.password": "Changement de mot de passe",
    "account.password_reset_request": "Demande de réinitialisation du mot de passe",
    "account.identifier_reminder": "Envoi d'un rappel d'identifiant",
    "account.duplicate_notice": "Demande de compte à votre nom",
    "account.mail_check": "Envoi d'un courriel de test",
    "account.merge": "Regroupement de compte",
    "account.close": "Fermeture du compte",
    "login.success": "Connexion",
    "login.failure": "Échec de connexion",
    "second_factor.enrolled": "Activation de la double authentification",
    "second_factor.disabled": "Désactivation de la double authentification",
    "second_factor.reset": "Réinitialisation de la double authentification",
    "second_factor.recovery_code_used": "Utilisation d'un code de secours",
    "logout": "Déconnexion",
    "consent.give": "Accord donné à une application",
    "consent.withdraw": "Accord retiré à une application",
    "profile.create": "Création d'un profil",
    "profile.contact": "Modification d'un profil",
    "habilitation.grant": "Habilitation attribuée",
    "habilitation.revoke": "Habilitation retirée",
    "profile_request.submit": "Demande de profil envoyée",
    "profile_request.withdraw": "Demande de profil retirée",
    "profile_request.accept": "Demande de profil acceptée",
    "profile_request.refuse": "Demande de profil refusée",
    "ape.appoint": "Nomination comme administrateur principal",
    "ape.demote": "Fin du rôle d'administrateur principal",
}


@bp.get("/identifiant")
@login_required
def identifier() -> str:
    account = signed_in_account()
    return render_template("selfservice/identifier.html", account=account,
                           active=account.state == AccountState.ACTIVE,
                           usable=[p for p in account.profiles if rules.is_usable(p)],
                           states=PROFILE_STATES)


@bp.get("/historique")
@login_required
def history() -> str:
    account = signed_in_account()
    found, total = accounts.history_of(account, paging.cursor(), PAGE_SIZE)
    return render_template("selfservice/history.html", account=account, found=found,
                           total=total, actions=ACTIONS, paris=PARIS)
