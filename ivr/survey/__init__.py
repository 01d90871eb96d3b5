"""The post-call questionnaire (the charter's "breve questionario" at the end of the call)."""
