"""Pipeline verbs: prepare, finetune, toy, aggregate (being written)."""

COMMANDS = []
