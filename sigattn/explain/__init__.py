"""Where a model looks and whether it matters: gate capture, attention figures, interpretability scores."""
