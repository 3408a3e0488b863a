"""Media types, request decoders and response encoders."""
