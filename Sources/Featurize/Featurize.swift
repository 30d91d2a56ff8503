/// Module Featurize: see docs/ARCHITECTURE.md.
public enum FeaturizeModule {}
