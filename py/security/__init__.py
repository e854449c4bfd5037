"""Trust at the edges: which Host names are served, which addresses may be fetched."""
