"""Operating the system: health, metrics, controls, audit."""
