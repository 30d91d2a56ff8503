// Module Featurize: the public Swift API (`FeatureExtractor`) and the file readers/writers the CLI uses.
// Re-exports the pooling vocabulary (`PoolingSpec`, `PoolingMethod`, `LayerReduce`, `PoolingMode`) so that
// users of `FeatureExtractor` need only `import Featurize`.
@_exported import Backend
@_exported import Pooling

/// Module marker (kept for the package skeleton).
public enum FeaturizeModule {}
