"""eotrust.demo: the whole task flow between five parties on real Sentinel-2 data (see ``scenario``)."""
