"""The analysis of a study's results: statistics (pure, no Django), the assembly of a study's data
into endpoint results and the CONSORT flow, and what is built from them (API, exports)."""
