"""
Per-stage configuration and the commands that turn it into a running stage's stack and Zappa
settings: `python -m infra.stages stack <stage>` (see __main__.py and docs/DEPLOY.md).
"""
