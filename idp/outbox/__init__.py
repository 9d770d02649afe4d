"""The outbox: whatever must leave the provider (a mail, a back-channel logout token) is
first an item in the SQL database, written in the transaction of the change that causes
it, then sent by one process and retried until it is delivered or given up.

The package knows nothing of what it sends: a *channel* (`channels.Channel`) does the
sending, and the application installs its channels at start (`channels.install`):
idp.mail provides the mail channel, idp.oidc.backchannel the logout channel.

- `service`: queue an item with the caller's change, send it in the background after the
  commit, wait for those sends;
- `delivery`: claim due items (a lease), send them through their channel, record the
  outcome (cron: `idp outbox deliver`);
- `policy`: the delays and the give-up rule of each channel, from the `[outbox]` settings;
- `models`: the table.
"""
