"""Every owner a task names: answer its own request (acknowledge or refuse)."""
