"""eotrust.linked: the catalogue as linked data (DCAT, GeoSPARQL, PROV-O) and SPARQL over it."""
