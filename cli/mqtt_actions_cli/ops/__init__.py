"""The user's operations, one function per operation, over a Target (the local stack or a
deployed one). They return pydantic models (or the layer's), raise the typed errors of
`ops.errors`, and neither parse arguments nor print: the `cmd_*` modules and the web console
both call them, so the two can never disagree.

- actions: parse_file, plan, apply, list_actions, get, remove, dryrun, save, set_enabled, export
- bucket.query · inspector.query / follow · outbox.list_items · dlq.list_letters / replay
- devices: create_certificate_device, seen, history · tokens: create, import_tokens,
  list_devices, revoke_device · topics: tree, seen, messages, matching · publish.publish"""

from mqtt_actions_cli.target import Target, local_target, stack_target

__all__ = ["Target", "local_target", "stack_target"]
