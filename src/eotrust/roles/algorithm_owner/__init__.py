"""The algorithm owner: publish, register and deploy applications."""
