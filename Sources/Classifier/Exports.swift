/// The classifier reads and writes feature matrices through FeatureIO (`FeatureMatrix`, `NpyReader`).
@_exported import FeatureIO
