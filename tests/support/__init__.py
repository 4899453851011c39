"""Shared test support: fakes of the ports, throwaway HTTP servers, the webhook receiver."""
