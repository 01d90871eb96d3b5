"""Italian prompts: texts in config, audio generated at setup, recorded files take precedence."""
