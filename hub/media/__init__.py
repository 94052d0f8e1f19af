"""Media blobs: content-addressed storage and chunk reassembly."""
