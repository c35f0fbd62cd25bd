"""The network as a graph: runners (``runners``), conversion and verification (``convert``), the
content-addressed graph cache and the runner a separator gets (``cache``), and the export
directory (``export``). Below ``separation``; nothing here imports it."""
