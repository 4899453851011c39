"""Adapters: the only modules that talk to AWS or the network. Each implements a port of
`mqtt_actions.ports` and is built lazily by the handler that needs it."""
