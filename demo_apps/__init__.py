"""Demo relying applications of PLAGE, built with the relying-party kit (idp.rp) exactly
as an independent application would: a *SAGA Directeurs* (first-login pairing, account
chooser, personal space) and a *Tableau de bord ESMS* (the guide's rights table).

`idp demo` registers them as clients (demo_apps.registration); `python -m demo_apps`
serves them on http://127.0.0.1:5001 and http://127.0.0.1:5002.
"""
