"""Webhooks of an app: outgoing (`outgoing`: the event listener, the stored deliveries and
the `webhook.deliver` job; `endpoints`: their configuration), the addresses they may reach
(`addresses`), sending one signed request (`sending`) and incoming hooks that create, update
or move records (`incoming`). docs/admin-guide.md#webhooks is the admin's side."""
