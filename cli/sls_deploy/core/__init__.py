"""The bottom floor: the vocabulary every room shares (records, names, alarm rules, prices, config, errors,
deterministic zips, progress). Nothing here imports any other sls_deploy room."""
