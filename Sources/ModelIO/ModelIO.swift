/// Module ModelIO: see docs/ARCHITECTURE.md.
public enum ModelIOModule {}
