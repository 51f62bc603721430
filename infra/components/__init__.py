"""Pulumi components: each a ComponentResource with typed args, children parented to it and named after it."""
