/// Module Encoder: see docs/ARCHITECTURE.md.
public enum EncoderModule {}
