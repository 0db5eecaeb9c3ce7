"""Studies run on top of the engine: the demo and the ablation study of the paper's tables.

- ``ogfr.studies.demo``: ``ogfr demo`` (synthetic benchmark -> OGFR and the single-branch baseline with
  the same budget -> report with the paper's figures).
- ``ogfr.studies.ablation``: the runner behind ``ogfr ablate`` (rows x seeds, resumable, aggregated
  tables); ``ogfr.studies.ablation_rows``: the rows of Tables 4-8 and Figure 4.
"""
