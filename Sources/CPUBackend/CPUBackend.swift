/// Module CPUBackend: see docs/ARCHITECTURE.md.
public enum CPUBackendModule {}
