"""The data owner: the private index of the files behind its registered datasets."""
