"""`python -m sls_deploy.commands`: the `sls-deploy` command."""

from . import main

main()
