/// Module OpenCLBackend: see docs/ARCHITECTURE.md.
public enum OpenCLBackendModule {}
