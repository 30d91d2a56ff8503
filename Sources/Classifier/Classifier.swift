/// Module Classifier: see docs/ARCHITECTURE.md.
public enum ClassifierModule {}
