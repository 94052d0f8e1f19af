"""Operations tooling: device identities, the locked-down broker, certificates (issue 10).

``gridlink provision ...`` is the command line; each sub-command lives in a ``cli_*`` module.
"""
