"""Reports on designs and searches: diagrams (`segnas.report.diagram`) and tables."""
