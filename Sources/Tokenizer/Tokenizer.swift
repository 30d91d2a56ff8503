/// Module Tokenizer: see docs/ARCHITECTURE.md.
public enum TokenizerModule {}
