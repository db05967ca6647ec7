"""Human annotation (paper Sec. 3.3, supplement Sec. 2, SPEC section 5): assignment, label files,
vote storage, label aggregation and agreement."""
