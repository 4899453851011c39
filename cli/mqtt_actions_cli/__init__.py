"""The `mqtt-actions` command and the local stack (not deployed to Lambda)."""
