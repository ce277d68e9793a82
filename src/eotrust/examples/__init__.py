"""Small worked examples that the README runs as written (shipped with the package, so a
newcomer's copy of the README finds them wherever eotrust is installed)."""
