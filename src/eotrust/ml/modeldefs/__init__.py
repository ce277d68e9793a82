"""Built-in model-definition files."""
