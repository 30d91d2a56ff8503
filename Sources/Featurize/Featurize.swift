// Module Featurize: the public Swift API (`FeatureExtractor`) and the file readers/writers the CLI uses.
// Re-exports the pooling vocabulary (`PoolingSpec`, `PoolingMethod`, `LayerReduce`, `PoolingMode`) and the
// feature file formats (`FeatureIO`) so that users of `FeatureExtractor` need only `import Featurize`.
@_exported import Backend
@_exported import FeatureIO
@_exported import Pooling
