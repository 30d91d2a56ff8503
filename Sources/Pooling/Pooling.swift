/// Module Pooling: see docs/ARCHITECTURE.md.
public enum PoolingModule {}
