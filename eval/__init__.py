"""tria-eval: datasets, scoring, metrics and reports for the tria_graph bot."""
