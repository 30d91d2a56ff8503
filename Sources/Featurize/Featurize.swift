/// Module Featurize: the public Swift API composing the other modules (see docs/ARCHITECTURE.md).
@_exported import FeatureIO
