"""MQTT Actions core layer: topic matching, payload wrapping, actions, and their adapters."""
