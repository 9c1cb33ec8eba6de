"""acme-surrogates: a downstream noether project (trainer, loss, model and dataset)."""
