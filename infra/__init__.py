"""Everything but the function's own code; none of it is packaged into the Lambda function.

``infra/README.md`` maps the folders: what is deployed and built (``deploy/``), what
runs only on a laptop (``local/``, ``bench/``, ``tools/``) and what a partner runs
(``partner/``).
"""
