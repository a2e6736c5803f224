"""Server-rendered SVG charts (pygal), each shown beside a table of the same numbers."""
