"""Data: registered public files → readers → one validated LA-by-year panel.

`sources` fetches and verifies each file; `parsing`, `table` and `geography` are
what every reader shares; `sen2`, `population`, `finance`, `outcomes`,
`neighbours` and `cohorts` read one family of sources each; `panel` joins,
checks and writes them. Nothing here imports from the models, the evaluation or
the report.
"""
