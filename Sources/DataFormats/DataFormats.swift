// Module DataFormats: the strict JSON parser (`JSONScanner`, `JSONValue`) and IEEE half-precision conversions,
// shared by every file reader and writer (model configs, safetensors headers, JSONL input, .npy/.safetensors
// features). No dependencies; ModelIO and FeatureIO re-export it.
