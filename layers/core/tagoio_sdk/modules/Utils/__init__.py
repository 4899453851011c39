"""Part of TagoIO's SDK import paths (see tagoio_sdk)."""
