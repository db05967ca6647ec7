"""The GAN training stack shared by the enhancers and the Real-ISR models."""
