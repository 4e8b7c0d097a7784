"""The operator's flows: one module per command (see docs/DEPLOY.md)."""
