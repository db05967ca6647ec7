"""The degradation model of paper Eq. 1 (SPEC section 2): blur, random resize, noise, JPEG, then
a resize to the target size, each parameter sampled per image and recorded."""
