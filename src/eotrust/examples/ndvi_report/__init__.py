"""The README's ``ndvi-report`` workflow: per-tile NDVI statistics (a Python service), merged
into one report (a command-line service), plus a CWL tool. Its files sit beside this module:
``ndvi-report.yaml``, ``tools/sort.cwl``."""
