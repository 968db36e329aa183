"""Preprocessing: HyP3 products -> analysis-ready time-series stacks on a region's tile grid."""
