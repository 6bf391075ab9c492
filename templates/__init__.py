"""Jinja2 templates for everything symact writes (kernels now; reference docs later)."""
